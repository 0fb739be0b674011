import EthernetSwitch
import F2FCore
import F2FPosix
import Logging

/// A `--stream PATH|[HOST:]PORT` listener: every connection it accepts becomes a switch port
/// (a `StreamPort`) until it closes; a reconnecting guest gets a fresh port.
public final class StreamServer {
    public enum Address: Equatable, CustomStringConvertible {
        case unix(path: String)
        /// Without a host: loopback only.
        case tcp(host: String?, port: UInt16)

        /// A path has a `/`; anything else is `[HOST:]PORT` (`[V6]:PORT` for IPv6).
        public init?(parsing text: String) {
            if text.contains("/") {
                self = .unix(path: text)
                return
            }
            var host: Substring?
            var portText = Substring(text)
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                host = text[text.index(after: text.startIndex)..<close]
                let rest = text[text.index(after: close)...]
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            } else if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            }
            guard let port = UInt16(portText), port > 0 else { return nil }
            if let host, host.isEmpty { return nil }
            self = .tcp(host: host.map(String.init), port: port)
        }

        public var description: String {
            switch self {
            case .unix(let path): path
            case .tcp(let host?, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .tcp(nil, let port): "127.0.0.1:\(port)"
            }
        }
    }

    public let address: Address
    private let engine: SwitchEngine
    private let logger: Logger
    private let warnings: ThrottledLogger
    private let socketMode: UInt32
    private let socketGroup: UInt32?
    private var listeners: [Listener] = []
    private var directory: DirectoryHandle?
    private var connections: [ObjectIdentifier: StreamPort] = [:]
    private var rest: ListenerRest?
    /// The guards of each connection's port: a guest is a client like a VDE one.
    public var guards = STPPortGuards(rootGuard: true)
    /// Connections cut off for a length of zero or over the frame size.
    public private(set) var framingErrors: UInt64 = 0
    /// Connections closed at once because no port was free.
    public private(set) var refusedConnections: UInt64 = 0

    /// `socketMode`, `socketGroup`: the unix socket's permissions and group (those of the
    /// switch's own sockets, `-m` and `-g`).
    public init(address: Address, socketMode: UInt32, socketGroup: UInt32? = nil, engine: SwitchEngine, logger: Logger) {
        self.address = address
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.engine = engine
        self.logger = logger
        warnings = ThrottledLogger(logger: logger) { [unowned loop = engine.loop] in loop.now }
    }

    /// The TCP port actually bound (useful with port 0 in tests).
    public var boundPort: UInt16? {
        guard case .tcp = address, let first = listeners.first?.rawValue else { return nil }
        return InetStreamSocket.boundPort(first)
    }

    public func start() throws(ServerSocketError) {
        switch address {
        case .unix(let path):
            guard UnixSocketAddress(path: path) != nil else { throw .pathTooLong(path) }
            // Created like the console's socket: through its directory, never through a link.
            let parent = try ConsoleServer.openParent(of: path)
            let socket = try StreamListener.make(
                in: parent, name: FileSystem.split(path).name, mode: socketMode, group: socketGroup, backlog: 16, logger: logger)
            directory = consume parent
            listeners.append(Listener(socket))
        case .tcp(let host, let port):
            do {
                try InetStreamSocket.listen(host: host, port: port, backlog: 16) { listeners.append(Listener($0)) }
            } catch {
                throw .system(error)
            }
        }
        let raws = listeners.map(\.rawValue)
        for raw in raws {
            do {
                try engine.loop.register(raw, interest: .readable, handler: IOCallback { [unowned self] _ in self.accept(from: raw) })
            } catch {
                stop()
                throw .system(SystemError(error))
            }
        }
        rest = ListenerRest(loop: engine.loop, descriptors: raws)
        logger.info("accepting QEMU stream connections", metadata: ["stream": "\(address)"])
    }

    public func stop() {
        for port in Array(connections.values) { engine.detach(port: port.port, reason: "switch shutting down") }
        rest?.cancel()
        for listener in listeners { engine.loop.deregister(listener.rawValue) }
        listeners.removeAll()
        if case .unix(let path) = address { directory?.remove(FileSystem.split(path).name) }
        directory = nil
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }

    private func accept(from listener: Int32) {
        rest?.acceptAll(from: listener, shortage: { error in
            warnings.warning("stream-accept", "accept failed; the stream listener rests until descriptors are free", metadata: ["error": "\(error)"])
        }) { socket in attach(socket) }
    }

    private func attach(_ socket: consuming Descriptor) {
        let port: Int
        switch engine.allocatePort(requested: nil) {
        case .success(let allocated): port = allocated
        case .failure(let error):
            refusedConnections &+= 1
            warnings.warning("stream-refused", "refusing stream connection", metadata: ["stream": "\(address)", "error": "\(error)"])
            return  // the descriptor closes here
        }
        let kind: String
        var userName = "NONE"
        var description = "stream \(address)"
        switch address {
        case .unix:
            kind = "stream unix"
            if let credentials = try? UnixSocket.peerCredentials(socket.rawValue) {
                userName = PortUser.name(credentials.userID)
                description += " pid=\(credentials.processID)"
            }
        case .tcp:
            kind = "stream tcp"
            InetStreamSocket.setNoDelay(socket.rawValue)
            if let peer = InetStreamSocket.peerDescription(socket.rawValue) { description += " from \(peer)" }
        }
        let link = StreamPort(
            port: port, socket: socket, kind: kind, description: description, userName: userName, engine: engine,
            onClose: { [weak self] link in self?.connections[ObjectIdentifier(link)] = nil },
            onFramingError: { [weak self] link, length in
                guard let self else { return }
                framingErrors &+= 1
                warnings.warning(
                    "stream-framing", "stream connection cut off: bad frame length",
                    metadata: ["port": "\(link.port)", "length": "\(length)", "stream": "\(address)"])
            })
        do {
            try link.activate()
        } catch {
            link.close()
            logger.error("cannot watch stream connection", metadata: ["error": "\(error)"])
            return
        }
        connections[ObjectIdentifier(link)] = link
        engine.attach(link, port: port, guards: guards)
    }
}

/// Holds a listening socket (arrays cannot hold a noncopyable `Descriptor` itself).
private final class Listener {
    private let socket: Descriptor
    var rawValue: Int32 { socket.rawValue }

    init(_ socket: consuming Descriptor) {
        self.socket = socket
    }
}
