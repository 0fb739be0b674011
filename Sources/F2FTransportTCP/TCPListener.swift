import F2FCore
import F2FPosix
import Logging

/// Accepts F2F peers on `--listen [HOST:]PORT` and hands each connection to the core.
public final class TCPListener: IOHandler {
    private let loop: any EventLoop
    private weak var acceptor: (any ConnectionAcceptor)?
    private var descriptors: [Int32] = []
    /// Owners of the listening sockets: closing happens when they go.
    private var sockets: [OwnedSocket] = []
    private let logger: Logger
    private let warnings: ThrottledLogger
    public let address: TCPAddress
    private var rest: ListenerRest?
    /// Times accept failed for want of descriptors or memory and the listener rested.
    public var acceptPauses: UInt64 { rest?.count ?? 0 }

    public init(address: TCPAddress, loop: any EventLoop, acceptor: any ConnectionAcceptor, logger: Logger) throws(ConnectionError) {
        self.address = address
        self.loop = loop
        self.acceptor = acceptor
        self.logger = logger
        warnings = ThrottledLogger(logger: logger) { [unowned loop] in loop.now }
        let addresses = try address.resolve(passive: true)
        do {
            try InetStreamSocket.listen(on: addresses, backlog: 64, description: address.description) {
                sockets.append(OwnedSocket($0))
            }
        } catch {
            throw ConnectionError.system(errno: error.errno, operation: error.operation)
        }
        for fd in sockets.map(\.rawValue) {
            do {
                try loop.register(fd, interest: .readable, handler: self)
            } catch {
                for registered in descriptors { loop.deregister(registered) }
                sockets.removeAll()
                throw ConnectionError.system(errno: error.errno, operation: error.operation)
            }
            descriptors.append(fd)
        }
        rest = ListenerRest(loop: loop, descriptors: descriptors)
    }

    /// The port actually bound (useful with port 0).
    public var boundPort: UInt16? {
        descriptors.first.flatMap(InetStreamSocket.boundPort)
    }

    public func handle(_ readiness: IOReadiness) {
        for fd in descriptors where rest?.isResting != true {
            accepting: while true {
                let next: AcceptedSocket?
                do {
                    next = try InetStreamSocket.accept(fd)
                } catch {
                    if ListenerRest.isTransient(errno: error.errno) { continue accepting }
                    if rest?.rest() == true {
                        warnings.warning(
                            "accept-paused", "cannot accept peers; the listener rests until descriptors are free",
                            metadata: ["error": "\(error)", "errno": "\(error.errno)"])
                    }
                    return
                }
                guard let accepted = consume next else { break accepting }
                rest?.accepted()
                let remote = accepted.remote.description
                let source = accepted.remote.sourcePrefix ?? remote
                do {
                    let connection = try TCPConnection.accepted(socket: accepted.takeSocket(), remote: remote, sourcePrefix: source, loop: loop)
                    acceptor?.acceptIncoming(connection)
                } catch {
                    warnings.warning("accept-failed", "cannot accept peer", metadata: ["peer": "\(remote)", "error": "\(error)"])
                }
            }
        }
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }

    public func close() {
        rest?.cancel()
        for fd in descriptors { loop.deregister(fd) }
        descriptors.removeAll()
        sockets.removeAll()
    }
}

/// A listening socket's owner, in an array (a `Descriptor` cannot be an element).
private final class OwnedSocket {
    private let socket: Descriptor
    var rawValue: Int32 { socket.rawValue }

    init(_ socket: consuming Descriptor) {
        self.socket = socket
    }
}
