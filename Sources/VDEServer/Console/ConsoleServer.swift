import F2FCore
import F2FPosix
import Glibc
import Logging

/// Serves a `Console` on a unix stream socket (`-M PATH`), up to `maximumSessions` at once. A
/// session that sends a runaway line or stops reading its output is disconnected; the switch
/// never waits for it. Sessions beyond the cap are closed at once: each holds a descriptor,
/// and uncapped sessions could take every descriptor the switch has.
public final class ConsoleServer {
    public let path: String
    public let mode: mode_t
    private let console: Console
    private let loop: EventLoop
    private let logger: Logger
    private let onShutdown: () -> Void
    private var listener: Descriptor?
    private var listenerDescriptor: Int32 = -1
    private var sessions: [Int32: ConsoleSession] = [:]
    private var rest: ListenerRest?
    private let warnings: ThrottledLogger
    public var maximumSessions = 16
    /// Sessions closed at once because `maximumSessions` were open.
    public private(set) var sessionsRefused: UInt64 = 0
    public var sessionCount: Int { sessions.count }
    /// Times the listener rested because accept found no descriptor free.
    public var acceptPauses: UInt64 { rest?.count ?? 0 }

    public init(path: String, mode: mode_t, console: Console, loop: EventLoop, logger: Logger, onShutdown: @escaping () -> Void) {
        self.path = path
        self.mode = mode
        self.console = console
        self.loop = loop
        self.logger = logger
        self.onShutdown = onShutdown
        warnings = ThrottledLogger(logger: logger) { [unowned loop] in loop.now }
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }

    public func start() throws(VDEServerError) {
        guard let address = UnixSocketAddress(path: path) else { throw .pathTooLong(path) }
        let socket = try StreamListener.make(at: address, backlog: 16, logger: logger) { () throws(VDEServerError) in
            chmod(path, mode)
        }
        let raw = socket.rawValue
        do {
            try loop.register(raw, interest: .readable, handler: IOCallback { [unowned self] _ in self.acceptSessions() })
        } catch {
            throw .system(error)
        }
        listenerDescriptor = socket.rawValue
        rest = ListenerRest(loop: loop, descriptors: [raw])
        listener = consume socket
    }

    public func stop() {
        for descriptor in Array(sessions.keys) { endSession(descriptor) }
        guard listener != nil else { return }
        rest?.cancel()
        loop.deregister(listenerDescriptor)
        listener = nil
        unlink(path)
    }

    private func acceptSessions() {
        while true {
            let accepted: Descriptor?
            do {
                accepted = try UnixSocket.accept(listenerDescriptor)
            } catch {
                if ListenerRest.isTransient(errno: error.errno) { continue }
                if rest?.rest() == true {
                    warnings.warning(
                        "console-accept", "console accept failed; the console listener rests until descriptors are free",
                        metadata: ["error": "\(error)"])
                }
                return
            }
            guard let accepted else { return }
            rest?.accepted()
            guard sessions.count < maximumSessions else {
                sessionsRefused &+= 1
                warnings.warning("console-sessions", "refusing console session: too many sessions", metadata: ["max-console-sessions": "\(maximumSessions)"])
                continue  // the descriptor closes here
            }
            let descriptor = accepted.rawValue
            let session = ConsoleSession(descriptor: accepted)
            do {
                try loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
                    self.serviceSession(descriptor, readiness)
                })
            } catch {
                continue
            }
            sessions[descriptor] = session
            session.queue(console.greeting)
            flushOrEnd(descriptor, session)
        }
    }

    private func serviceSession(_ descriptor: Int32, _ readiness: IOReadiness) {
        guard let session = sessions[descriptor] else { return }
        if readiness.contains(.readable) {
            switch session.readLines() {
            case .lines(let lines):
                for line in lines {
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
                    }
                    break
                }
            case .closed:
                endSession(descriptor)
                return
            case .misbehaved(let reason):
                warnings.warning("console-misbehaved", "console session dropped: \(reason)")
                endSession(descriptor)
                return
            }
        }
        flushOrEnd(descriptor, session)
    }

    private func flushOrEnd(_ descriptor: Int32, _ session: ConsoleSession) {
        switch session.flush() {
        case .done:
            if session.closeAfterFlush {
                endSession(descriptor)
            } else {
                loop.setInterest(.readable, for: descriptor)
            }
        case .pending:
            loop.setInterest([.readable, .writable], for: descriptor)
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
    static let maximumPendingOutput = 1 << 20

    private let descriptor: Descriptor
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var outputOffset = 0
    var closeAfterFlush = false

    init(descriptor: consuming Descriptor) {
        self.descriptor = descriptor
    }

    enum ReadOutcome {
        case lines([String])
        case closed
        case misbehaved(String)
    }

    enum FlushOutcome {
        case done
        case pending
        case failed
    }

    func readLines() -> ReadOutcome {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let raw = descriptor.rawValue
        let result = chunk.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try UnixSocket.read(raw, into: buffer) }
        }
        switch result {
        case .failure, .success(.processed(0)):
            return .closed
        case .success(.wouldBlock):
            return .lines([])
        case .success(.processed(let count)):
            input.append(contentsOf: chunk[..<count])
        }
        var lines: [String] = []
        while let newline = input.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: input[..<newline], as: UTF8.self))
            input.removeSubrange(...newline)
        }
        if input.count > Self.maximumLineCount {
            return .misbehaved("line longer than \(Self.maximumLineCount) bytes")
        }
        return .lines(lines)
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
                if output.count - outputOffset > Self.maximumPendingOutput { return .failed }
                return .pending
            case .failure:
                return .failed
            }
        }
        output.removeAll(keepingCapacity: true)
        outputOffset = 0
        return .done
    }
}
