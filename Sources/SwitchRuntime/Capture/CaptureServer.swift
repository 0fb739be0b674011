import F2FCore
import F2FPosix
import Logging

/// The `capture` socket in the switch's socket directory, for `f2f-switch capture DIR PORT`:
/// a client connects, sends one line naming what to capture (`N` or `peer NAME`), and gets
/// `ok` and then a pcap stream of that port on the same connection, or `error TEXT` and a
/// close. The socket is owner-only (0600) whatever `--mode` says: traffic is not for every
/// user who may attach a guest. The stream is a `PacketCapture` like a file's (buffered, one
/// write per dispatch, frames dropped and counted when the reader falls behind, never a
/// wait); it ends when the client closes or `pcap/stop` stops it.
public final class CaptureServer {
    public static let socketName = "capture"
    public var maximumStreams = 4
    public var requestTimeout: Duration = .seconds(5)
    static let maximumRequestCount = 256
    /// Room in the kernel for a burst while the reader catches up.
    static let streamBufferBytes: Int32 = 1 << 20

    private let engine: SwitchEngine
    private let loop: any EventLoop
    private let logger: Logger
    private let peerPort: (String) -> Int?
    private var listener: Descriptor?
    private var listenerDescriptor: Int32 = -1
    /// Removes the socket file (through the socket directory's handle).
    private var removeSocket: (() -> Void)?
    private var rest: ListenerRest?
    private var pending: [Int32: CaptureRequest] = [:]
    /// Streams running, by descriptor: the capture (which owns the socket) and its port.
    private var streams: [Int32: (port: Int, capture: PacketCapture)] = [:]
    private var sweepTimer: LoopTimerID?

    public init(engine: SwitchEngine, logger: Logger, peerPort: @escaping (String) -> Int?) {
        self.engine = engine
        loop = engine.loop
        self.logger = logger
        self.peerPort = peerPort
    }

    /// Serves on `socket`, the listening `capture` socket the socket directory made (owner-only);
    /// `remove` deletes its file when the server stops.
    public func start(listening socket: consuming Descriptor, remove: @escaping () -> Void) throws(ServerSocketError) {
        let raw = socket.rawValue
        do {
            try loop.register(raw, interest: .readable, handler: IOCallback { [unowned self] _ in accept() })
        } catch {
            remove()
            throw .system(SystemError(error))
        }
        listenerDescriptor = raw
        rest = ListenerRest(loop: loop, descriptors: [raw])
        listener = consume socket
        removeSocket = remove
        // A stream stopped from the console (`pcap/stop`) or whose writes failed is closed.
        sweepTimer = loop.scheduleRepeating(every: .milliseconds(500)) { [unowned self] in sweep() }
    }

    public func stop() {
        for descriptor in Array(pending.keys) { endRequest(descriptor) }
        for descriptor in Array(streams.keys) { endStream(descriptor) }
        if let sweepTimer { loop.cancelTimer(sweepTimer) }
        sweepTimer = nil
        guard listener != nil else { return }
        rest?.cancel()
        loop.deregister(listenerDescriptor)
        listener = nil
        removeSocket?()
        removeSocket = nil
    }

    private func accept() {
        rest?.acceptAll(from: listenerDescriptor, shortage: { error in
            logger.warning("capture accept failed; the listener rests", metadata: ["error": "\(error)"])
        }) { accepted in
            guard pending.count + streams.count < maximumStreams + 1 else { return }  // closes here
            let descriptor = accepted.rawValue
            let request = CaptureRequest(accepted)
            do {
                try loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
                    service(descriptor, readiness)
                })
            } catch {
                return
            }
            pending[descriptor] = request
            request.timer = loop.schedule(after: requestTimeout) { [weak self] in self?.endRequest(descriptor) }
        }
    }

    private func service(_ descriptor: Int32, _ readiness: IOReadiness) {
        if let request = pending[descriptor] {
            readRequest(descriptor, request)
        } else if streams[descriptor] != nil {
            // The client sends nothing after its line: readable means it closed (or sent junk).
            var byte: [UInt8] = [0]
            let result = byte.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try UnixSocket.read(descriptor, into: buffer) }
            }
            if case .success(.wouldBlock) = result { return }
            endStream(descriptor)
        }
    }

    private func readRequest(_ descriptor: Int32, _ request: CaptureRequest) {
        switch request.read() {
        case .needMore:
            return
        case .closed:
            endRequest(descriptor)
        case .line(let line):
            switch resolve(line) {
            case .failure(let message):
                request.answer("error \(message)\n")
                endRequest(descriptor)
            case .success(let port):
                startStream(descriptor, request, port: port)
            }
        }
    }

    private enum Resolution {
        case success(Int)
        case failure(String)
    }

    private func resolve(_ line: String) -> Resolution {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        let port: Int
        do {
            port = try PacketCaptureConsoleCommands.target(words, engine: engine, peerPort: peerPort).port
        } catch {
            return .failure(error == .noSuchDeviceOrAddress ? "no such peer" : "expected a port number or 'peer NAME'")
        }
        guard words.count == (words.first == "peer" ? 2 : 1) else { return .failure("expected a port number or 'peer NAME'") }
        guard engine.capture(at: port) == nil else { return .failure("port \(port) is captured already (pcap/stop it first)") }
        guard streams.count < maximumStreams else { return .failure("too many capture streams") }
        return .success(port)
    }

    private func startStream(_ descriptor: Int32, _ request: CaptureRequest, port: Int) {
        if let timer = request.timer { loop.cancelTimer(timer) }
        request.timer = nil
        pending[descriptor] = nil
        guard request.answer("ok\n"), let socket = request.takeSocket() else {
            loop.deregister(descriptor)
            return
        }
        UnixSocket.setSendBufferSize(descriptor, bytes: Self.streamBufferBytes)
        let capture = PacketCapture(destination: .stream, descriptor: socket, maximumBytes: Int.max, loop: loop)
        guard engine.startCapture(capture, port: port) == nil else {
            loop.deregister(descriptor)
            return
        }
        streams[descriptor] = (port, capture)
        logger.info("capture stream started", metadata: ["port": "\(port)"])
    }

    private func sweep() {
        for (descriptor, stream) in streams {
            switch stream.capture.state {
            case .recording, .full: continue
            case .failed, .stopped: endStream(descriptor)
            }
        }
    }

    private func endRequest(_ descriptor: Int32) {
        guard let request = pending.removeValue(forKey: descriptor) else { return }
        if let timer = request.timer { loop.cancelTimer(timer) }
        loop.deregister(descriptor)
    }

    /// Deregisters first: the capture (and with it the socket) may go once the engine lets go.
    private func endStream(_ descriptor: Int32) {
        guard let stream = streams.removeValue(forKey: descriptor) else { return }
        loop.deregister(descriptor)
        if engine.capture(at: stream.port) === stream.capture { engine.stopCapture(port: stream.port) }
        logger.info("capture stream ended", metadata: ["port": "\(stream.port)", "capture": "\(stream.capture.summary)"])
    }
}

/// A capture client that has not named its port yet: its socket and the bytes of its line.
final class CaptureRequest {
    enum ReadOutcome {
        case needMore
        case line(String)
        case closed
    }

    private var socket: Descriptor?
    private var input: [UInt8] = []
    var timer: LoopTimerID?

    init(_ socket: consuming Descriptor) {
        self.socket = .some(consume socket)
    }

    func read() -> ReadOutcome {
        guard let raw = socket?.rawValue, let read = UnixSocket.readAppending(raw, to: &input, limit: CaptureServer.maximumRequestCount)
        else { return .closed }
        if case .wouldBlock = read { return .needMore }
        guard let newline = input.firstIndex(of: UInt8(ascii: "\n")) else {
            return input.count > CaptureServer.maximumRequestCount ? .closed : .needMore
        }
        var line = input[..<newline]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return .line(String(decoding: line, as: UTF8.self))
    }

    /// A short line into an empty socket buffer: taken whole, or the client is gone.
    @discardableResult
    func answer(_ text: String) -> Bool {
        guard let raw = socket?.rawValue else { return false }
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(SystemError) in try UnixSocket.write(raw, from: buffer) }
        }
        if case .success(.processed(let count)) = result { return count == bytes.count }
        return false
    }

    func takeSocket() -> Descriptor? {
        socket.take()
    }
}
