import F2FCore
import F2FPosix
import Logging

/// Serves `GET /metrics` (Prometheus text format) on a TCP socket from the switch's own loop:
/// no thread, no blocking call. A connection costs a bounded buffer and one timer: the request
/// head is at most `HTTPRequestHead.maximumCount` bytes, at most `maximumConnections` are open
/// (more are closed at once), and a connection that has not sent its head, or not taken its
/// answer, within `requestTimeout` is closed (a slow client cannot hold a slot). Every answer
/// closes the connection. The body is rendered when a complete GET arrives, from counters the
/// switch keeps anyway, so the data path pays nothing for it.
public final class MetricsServer {
    public let host: String?
    public let requestedPort: UInt16
    public let path = "/metrics"
    public var maximumConnections = 16
    public var requestTimeout: Duration = .seconds(5)
    /// After an answer, what the client still sends is read and discarded (so that closing
    /// does not reset the connection before the answer arrives), up to this many bytes.
    static let maximumDiscard = 64 << 10

    private let loop: any EventLoop
    private let logger: Logger
    private let warnings: ThrottledLogger
    private let render: () -> String
    private var listeners: [MetricsSocket] = []
    private var connections: [Int32: MetricsConnection] = [:]
    private var rest: ListenerRest?
    private var scratch = [UInt8](repeating: 0, count: HTTPRequestHead.maximumCount + 1)

    /// Scrapes answered, by status code, and connections closed at once for want of a slot.
    public private(set) var answered: [HTTPResponse.Status: UInt64] = [:]
    public private(set) var connectionsRefused: UInt64 = 0
    public var connectionCount: Int { connections.count }

    public init(host: String?, port: UInt16, loop: any EventLoop, logger: Logger, render: @escaping () -> String) {
        self.host = host
        requestedPort = port
        self.loop = loop
        self.logger = logger
        self.render = render
        warnings = ThrottledLogger(logger: logger) { [unowned loop] in loop.now }
    }

    /// Listens on `host` (loopback when nil).
    public func start() throws(SystemError) {
        var sockets: [MetricsSocket] = []
        try InetStreamSocket.listen(host: host, port: requestedPort, backlog: 16) { sockets.append(MetricsSocket($0)) }
        for socket in sockets {
            do {
                try loop.register(socket.rawValue, interest: .readable, handler: IOCallback { [unowned self] _ in accept(from: socket.rawValue) })
            } catch {
                for registered in listeners { loop.deregister(registered.rawValue) }
                listeners.removeAll()
                throw SystemError(error)
            }
            listeners.append(socket)
        }
        rest = ListenerRest(loop: loop, descriptors: listeners.map(\.rawValue))
    }

    /// The port bound (useful with port 0).
    public var boundPort: UInt16? {
        listeners.first.flatMap { InetStreamSocket.boundPort($0.rawValue) }
    }

    public func stop() {
        for descriptor in Array(connections.keys) { close(descriptor) }
        rest?.cancel()
        for socket in listeners { loop.deregister(socket.rawValue) }
        listeners.removeAll()
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }

    private func accept(from listener: Int32) {
        while rest?.isResting != true {
            let next: AcceptedSocket?
            do {
                next = try InetStreamSocket.accept(listener)
            } catch {
                if ListenerRest.isTransient(errno: error.errno) { continue }
                if rest?.rest() == true {
                    warnings.warning("metrics-accept", "cannot accept metrics clients; the listener rests", metadata: ["error": "\(error)"])
                }
                return
            }
            guard let accepted = consume next else { return }
            rest?.accepted()
            let socket = accepted.takeSocket()
            guard connections.count < maximumConnections else {
                connectionsRefused &+= 1
                warnings.warning("metrics-connections", "refusing metrics connection: too many open", metadata: ["max": "\(maximumConnections)"])
                continue  // the descriptor closes here
            }
            let descriptor = socket.rawValue
            let connection = MetricsConnection(socket)
            do {
                try loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
                    service(descriptor, readiness)
                })
            } catch {
                continue
            }
            connections[descriptor] = connection
            connection.timer = loop.schedule(after: requestTimeout) { [weak self] in self?.timedOut(descriptor) }
        }
    }

    private func service(_ descriptor: Int32, _ readiness: IOReadiness) {
        guard let connection = connections[descriptor] else { return }
        if readiness.contains(.readable) {
            switch connection.phase {
            case .reading: readRequest(descriptor, connection)
            case .discarding: discard(descriptor, connection)
            case .writing: break
            }
        }
        if connections[descriptor] != nil, case .writing = connection.phase { flush(descriptor, connection) }
    }

    private func readRequest(_ descriptor: Int32, _ connection: MetricsConnection) {
        let room = HTTPRequestHead.maximumCount + 1 - connection.input.count
        let result = scratch.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try InetStreamSocket.receive(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<room])) }
        }
        switch result {
        case .failure, .success(.processed(0)):
            close(descriptor)  // gone before asking anything
            return
        case .success(.wouldBlock):
            return
        case .success(.processed(let count)):
            connection.input.append(contentsOf: scratch[..<count])
        }
        switch HTTPRequestHead.parse(connection.input) {
        case .needMore:
            return
        case .complete(let head):
            let status = HTTPResponse.status(for: head, path: path)
            answer(descriptor, connection, status == .ok ? HTTPResponse.encode(.ok, contentType: MetricsText.contentType, body: render()) : HTTPResponse.encode(status), status)
        case .malformed(let reason):
            logger.debug("metrics: malformed request", metadata: ["reason": "\(reason)"])
            answer(descriptor, connection, HTTPResponse.encode(.badRequest), .badRequest)
        case .tooLarge:
            answer(descriptor, connection, HTTPResponse.encode(.headerFieldsTooLarge), .headerFieldsTooLarge)
        }
    }

    private func answer(_ descriptor: Int32, _ connection: MetricsConnection, _ bytes: [UInt8], _ status: HTTPResponse.Status) {
        answered[status, default: 0] &+= 1
        connection.input = []
        connection.phase = .writing(bytes, offset: 0)
        loop.setInterest(.writable, for: descriptor)
    }

    private func flush(_ descriptor: Int32, _ connection: MetricsConnection) {
        guard case .writing(let bytes, var offset) = connection.phase else { return }
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(SystemError) in try InetStreamSocket.send(descriptor, from: UnsafeRawBufferPointer(rebasing: buffer[offset...])) }
            }
            switch result {
            case .success(.processed(let count)):
                offset += count
            case .success(.wouldBlock):
                connection.phase = .writing(bytes, offset: offset)
                return
            case .failure:
                close(descriptor)
                return
            }
        }
        // Sent: end our side, and read what the client still sends until it closes.
        InetStreamSocket.shutdownWriting(descriptor)
        connection.phase = .discarding(0)
        loop.setInterest(.readable, for: descriptor)
    }

    private func discard(_ descriptor: Int32, _ connection: MetricsConnection) {
        guard case .discarding(var total) = connection.phase else { return }
        while true {
            let result = scratch.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try InetStreamSocket.receive(descriptor, into: buffer) }
            }
            switch result {
            case .failure, .success(.processed(0)):
                close(descriptor)
                return
            case .success(.wouldBlock):
                connection.phase = .discarding(total)
                return
            case .success(.processed(let count)):
                total += count
                if total > Self.maximumDiscard {
                    close(descriptor)
                    return
                }
            }
        }
    }

    /// A client that has not finished its request gets 408 if the socket takes it; one that
    /// has not taken its answer, or not closed after it, is closed.
    private func timedOut(_ descriptor: Int32) {
        guard let connection = connections[descriptor] else { return }
        connection.timer = nil
        guard case .reading = connection.phase else {
            close(descriptor)
            return
        }
        answered[.requestTimeout, default: 0] &+= 1
        let bytes = HTTPResponse.encode(.requestTimeout)
        _ = bytes.withUnsafeBytes { buffer in try? InetStreamSocket.send(descriptor, from: buffer) }
        close(descriptor)
    }

    private func close(_ descriptor: Int32) {
        guard let connection = connections.removeValue(forKey: descriptor) else { return }
        if let timer = connection.timer { loop.cancelTimer(timer) }
        loop.deregister(descriptor)
        // The descriptor closes when the connection goes.
    }
}

/// One metrics client: where its exchange is and its socket.
final class MetricsConnection {
    enum Phase {
        /// Collecting the request head.
        case reading
        /// Sending the answer.
        case writing([UInt8], offset: Int)
        /// Answer sent and our side shut: reading (and dropping) until the client closes.
        case discarding(Int)
    }

    let socket: Descriptor
    var input: [UInt8] = []
    var phase = Phase.reading
    var timer: LoopTimerID?

    init(_ socket: consuming Descriptor) {
        self.socket = socket
    }
}

/// The owner of a listening socket (an array cannot hold `Descriptor` itself).
final class MetricsSocket {
    private let socket: Descriptor
    var rawValue: Int32 { socket.rawValue }

    init(_ socket: consuming Descriptor) {
        self.socket = socket
    }
}
