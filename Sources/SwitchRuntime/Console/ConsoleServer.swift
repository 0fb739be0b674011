import F2FCore
import F2FPosix
import Logging

/// Serves a `Console` on a unix stream socket (`-M PATH`), up to `maximumSessions` at once. A
/// session that sends a runaway line or stops reading its output is disconnected; the switch
/// never waits for it. Sessions beyond the cap are closed at once: each holds a descriptor,
/// and uncapped sessions could take every descriptor the switch has.
public final class ConsoleServer {
    public let path: String
    public let mode: UInt32
    private let console: Console
    private let loop: any EventLoop
    private let logger: Logger
    private let onShutdown: () -> Void
    private var listener: Descriptor?
    private var listenerDescriptor: Int32 = -1
    /// The directory holding the socket, opened once: the socket is created and removed
    /// through it.
    private var directory: DirectoryHandle?
    private let name: String
    private var sessions: [Int32: ConsoleSession] = [:]
    private var rest: ListenerRest?
    private let warnings: ThrottledLogger
    public var maximumSessions = 16
    /// Sessions closed at once because `maximumSessions` were open.
    public private(set) var sessionsRefused: UInt64 = 0
    public var sessionCount: Int { sessions.count }
    /// Times the listener rested because accept found no descriptor free.
    public var acceptPauses: UInt64 { rest?.count ?? 0 }

    public init(path: String, mode: UInt32, console: Console, loop: any EventLoop, logger: Logger, onShutdown: @escaping () -> Void) {
        self.path = path
        self.mode = mode
        self.console = console
        self.loop = loop
        self.logger = logger
        self.onShutdown = onShutdown
        name = FileSystem.split(path).name
        warnings = ThrottledLogger(logger: logger) { [unowned loop] in loop.now }
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }

    public func start() throws(ServerSocketError) {
        guard UnixSocketAddress(path: path) != nil else { throw .pathTooLong(path) }
        let parent = try Self.openParent(of: path)
        let socket = try StreamListener.make(in: parent, name: name, mode: mode, group: nil, backlog: 16, logger: logger)
        let raw = socket.rawValue
        do {
            try loop.register(raw, interest: .readable, handler: IOCallback { [unowned self] _ in self.acceptSessions() })
        } catch {
            throw .system(SystemError(error))
        }
        listenerDescriptor = socket.rawValue
        rest = ListenerRest(loop: loop, descriptors: [raw])
        listener = consume socket
        directory = consume parent
    }

    /// The directory the socket goes into, opened by its real path (`-M /var/run/sw.mgmt`
    /// reaches /run through root's link) once nobody but us and root can redirect it: links on
    /// the way are ours or root's, and every directory of the real path is ours or root's and
    /// sticky if others may write it (like /tmp).
    static func openParent(of path: String) throws(ServerSocketError) -> DirectoryHandle {
        let parentPath = FileSystem.split(path).directory
        let realPath: String?
        do {
            realPath = try FileSystem.trustedDirectoryPath(parentPath)
        } catch {
            throw .unsafe(error)
        }
        guard let realPath else { throw .system(SystemError(errno: Errno.noSuchFile, operation: "open \(parentPath)")) }
        do {
            return try DirectoryHandle.open(realPath)
        } catch {
            throw .system(error)
        }
    }

    public func stop() {
        for descriptor in Array(sessions.keys) { endSession(descriptor) }
        guard listener != nil else { return }
        rest?.cancel()
        loop.deregister(listenerDescriptor)
        listener = nil
        directory?.remove(name)
        directory = nil
    }

    private func acceptSessions() {
        rest?.acceptAll(from: listenerDescriptor, shortage: { error in
            warnings.warning(
                "console-accept", "console accept failed; the console listener rests until descriptors are free",
                metadata: ["error": "\(error)"])
        }) { accepted in
            guard sessions.count < maximumSessions else {
                sessionsRefused &+= 1
                warnings.warning("console-sessions", "refusing console session: too many sessions", metadata: ["max-console-sessions": "\(maximumSessions)"])
                return  // the descriptor closes here
            }
            let descriptor = accepted.rawValue
            let session = ConsoleSession(descriptor: accepted)
            do {
                try loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
                    self.serviceSession(descriptor, readiness)
                })
            } catch {
                return
            }
            sessions[descriptor] = session
            session.queue(console.greeting)
            flushOrEnd(descriptor, session)
        }
    }

    /// Reads only while no complete command waits, and runs the waiting commands only while the
    /// session's unsent output is small and a few at a time: one write of hundreds of printing
    /// commands then costs the switch a bounded buffer and a bounded slice of each loop turn,
    /// and the rest wait in the socket until the client reads its answers.
    private func serviceSession(_ descriptor: Int32, _ readiness: IOReadiness) {
        guard let session = sessions[descriptor] else { return }
        if readiness.contains(.readable), session.wantsInput {
            switch session.readInput() {
            case .received:
                break
            case .closed:
                // A client that sent its commands and shut its side still gets the answers.
                guard session.pendingOutputCount > 0 else {
                    endSession(descriptor)
                    return
                }
                session.closeAfterFlush = true
            case .misbehaved(let reason):
                warnings.warning("console-misbehaved", "console session dropped: \(reason)")
                endSession(descriptor)
                return
            }
        }
        runCommands(session)
        flushOrEnd(descriptor, session)
    }

    /// Runs waiting commands until the turn's share is used, the output is above its bound or
    /// the session is ending.
    private func runCommands(_ session: ConsoleSession) {
        var executed = 0
        while executed < ConsoleSession.commandsPerTurn, !session.closeAfterFlush,
            session.pendingOutputCount < ConsoleSession.outputHighWater, let line = session.nextLine()
        {
            executed += 1
            let reply = console.execute(line: line)
            session.queue(reply.text)
            switch reply.action {
            case .none:
                continue
            case .endSession:
                session.closeAfterFlush = true
            case .shutdown:
                session.closeAfterFlush = true
                _ = session.flush()
                logger.info("shutdown requested from the console")
                onShutdown()
                return
            }
        }
    }

    private func flushOrEnd(_ descriptor: Int32, _ session: ConsoleSession) {
        switch session.flush() {
        case .done where session.closeAfterFlush:
            endSession(descriptor)
        case .done, .pending:
            // Commands still waiting with room for their output ask for writability too: the
            // socket is writable at once, so they resume on the next turn, after other work.
            let resumes = session.hasWaitingCommand && !session.closeAfterFlush
                && session.pendingOutputCount < ConsoleSession.outputHighWater
            var interest: IOInterest = session.wantsInput ? .readable : []
            if session.pendingOutputCount > 0 || resumes { interest.insert(.writable) }
            loop.setInterest(interest, for: descriptor)
        case .failed:
            endSession(descriptor)
        }
    }

    private func endSession(_ descriptor: Int32) {
        loop.deregister(descriptor)
        sessions[descriptor] = nil
    }
}

/// One console client: a line assembler and a bounded output buffer.
final class ConsoleSession {
    static let maximumLineCount = 4096
    /// Commands run per loop turn; the rest wait for the next turn, so a session never holds
    /// up forwarding for more than a few commands' worth of work.
    static let commandsPerTurn = 16
    /// No further command runs while this much output is unsent: the client must read first.
    static let outputHighWater = 64 << 10
    /// Output above the high-water mark can only come from one command's answer; past this
    /// the session is dropped rather than the switch growing without bound.
    static let maximumPendingOutput = 1 << 20

    private let descriptor: Descriptor
    private var input: [UInt8] = []
    private var inputStart = 0
    private var output: [UInt8] = []
    private var outputOffset = 0
    var closeAfterFlush = false

    init(descriptor: consuming Descriptor) {
        self.descriptor = descriptor
    }

    enum ReadOutcome {
        case received
        case closed
        case misbehaved(String)
    }

    enum FlushOutcome {
        case done
        case pending
        case failed
    }

    var pendingOutputCount: Int { output.count - outputOffset }

    var hasWaitingCommand: Bool { input[inputStart...].contains(UInt8(ascii: "\n")) }

    /// More input is read only once every complete command has run: unread commands stay in
    /// the socket, where the client's writes block, instead of in the switch.
    var wantsInput: Bool { !closeAfterFlush && !hasWaitingCommand }

    func readInput() -> ReadOutcome {
        if inputStart > 0 {
            input.removeSubrange(..<inputStart)
            inputStart = 0
        }
        guard let read = UnixSocket.readAppending(descriptor.rawValue, to: &input, limit: 4096) else { return .closed }
        if case .wouldBlock = read { return .received }
        if !hasWaitingCommand, input.count > Self.maximumLineCount {
            return .misbehaved("line longer than \(Self.maximumLineCount) bytes")
        }
        return .received
    }

    /// The next complete command line, consumed.
    func nextLine() -> String? {
        guard let newline = input[inputStart...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: input[inputStart..<newline], as: UTF8.self)
        inputStart = newline + 1
        return line
    }

    func queue(_ text: String) {
        output.append(contentsOf: text.utf8)
    }

    func flush() -> FlushOutcome {
        let raw = descriptor.rawValue
        while outputOffset < output.count {
            let result = output.withUnsafeBytes { bytes in
                Result { () throws(SystemError) in
                    try UnixSocket.write(raw, from: UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
                }
            }
            switch result {
            case .success(.processed(let count)):
                outputOffset += count
            case .success(.wouldBlock):
                if pendingOutputCount > Self.maximumPendingOutput { return .failed }
                compactOutput()
                return .pending
            case .failure:
                return .failed
            }
        }
        output.removeAll(keepingCapacity: true)
        outputOffset = 0
        return .done
    }

    /// Sent bytes are dropped once they are most of the buffer, so a client reading slowly
    /// does not leave the buffer growing by what it already took.
    private func compactOutput() {
        guard outputOffset > output.count / 2 else { return }
        output.removeSubrange(..<outputOffset)
        outputOffset = 0
    }
}
