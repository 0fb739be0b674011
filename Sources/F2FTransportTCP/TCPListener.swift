import F2FCore
import F2FPosix
import Glibc
import Logging

/// Accepts F2F peers on `--listen [HOST:]PORT` and hands each connection to the core.
public final class TCPListener: IOHandler {
    private let loop: any EventLoop
    private weak var acceptor: (any ConnectionAcceptor)?
    private var descriptors: [Int32] = []
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
        for socketAddress in try address.resolve(passive: true) {
            let family = socketAddress.withUnsafeBytes { $0.load(as: sa_family_t.self) }
            let fd = socket(Int32(family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if Int32(family) == AF_INET6 {
                setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            let bound = socketAddress.withUnsafeBytes { raw in
                bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
            guard bound == 0, listen(fd, 64) == 0 else {
                let error = ConnectionError.system(errno: errno, operation: "listen on \(address)")
                Glibc.close(fd)
                if descriptors.isEmpty, socketAddress == (try? address.resolve(passive: true))?.last { throw error }
                continue
            }
            do {
                try loop.register(fd, interest: .readable, handler: self)
            } catch {
                Glibc.close(fd)
                throw ConnectionError.system(errno: error.errno, operation: error.operation)
            }
            descriptors.append(fd)
        }
        guard !descriptors.isEmpty else { throw ConnectionError.system(errno: EADDRNOTAVAIL, operation: "listen on \(address)") }
        rest = ListenerRest(loop: loop, descriptors: descriptors)
    }

    /// The port actually bound (useful with port 0).
    public var boundPort: UInt16? {
        guard let fd = descriptors.first else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { return nil }
        return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    public func handle(_ readiness: IOReadiness) {
        for fd in descriptors where rest?.isResting != true {
            accepting: while true {
                var storage = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let accepted = withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
                }
                guard accepted >= 0 else {
                    let error = errno
                    if error == EAGAIN { break accepting }
                    if ListenerRest.isTransient(errno: error) { continue accepting }
                    if rest?.rest() == true {
                        warnings.warning(
                            "accept-paused", "cannot accept peers; the listener rests until descriptors are free",
                            metadata: ["error": "\(String(cString: strerror(error)))", "errno": "\(error)"])
                    }
                    return
                }
                rest?.accepted()
                _ = fcntl(accepted, F_SETFL, fcntl(accepted, F_GETFL) | O_NONBLOCK)
                _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
                let remote = Self.describe(storage)
                let source = withUnsafeBytes(of: storage) { SocketSource.prefix(ofSocketAddress: $0) } ?? remote
                do {
                    let connection = try TCPConnection.accepted(descriptor: accepted, remote: remote, sourcePrefix: source, loop: loop)
                    acceptor?.acceptIncoming(connection)
                } catch {
                    warnings.warning("accept-failed", "cannot accept peer", metadata: ["peer": "\(remote)", "error": "\(error)"])
                    Glibc.close(accepted)
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
        for fd in descriptors {
            loop.deregister(fd)
            Glibc.close(fd)
        }
        descriptors.removeAll()
    }

    static func describe(_ storage: sockaddr_storage) -> String {
        var copy = storage
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<sockaddr_storage>.size), &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard status == 0 else { return "unknown" }
        func text(_ characters: [CChar]) -> String {
            String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return "\(text(host)):\(text(service))"
    }
}
