import CF2FSystem
import Glibc

/// Listening TCP sockets for ports that are not F2F links (QEMU's stream netdev, libvirt's
/// `type='client'`). Every socket is non-blocking and close-on-exec.
public enum InetStreamSocket {
    /// Listens on `host` (every address it resolves to) or, without one, on loopback only:
    /// a guest's cable is not something to offer the whole network by accident. Each
    /// listening socket is handed to `take`.
    public static func listen(
        host: String?, port: UInt16, backlog: Int32, _ take: (consuming Descriptor) -> Void
    ) throws(SystemError) {
        let addresses: [InetSocketAddress]
        do {
            addresses = try resolve(host: host ?? "127.0.0.1", port: port, passive: true)
        } catch {
            throw SystemError(errno: EADDRNOTAVAIL, operation: error.operation)
        }
        try listen(on: addresses, backlog: backlog, description: "\(host ?? "127.0.0.1"):\(port)", take)
    }

    /// Listens on each of `addresses` (IPv6 sockets only for IPv6, so that an IPv4 socket can
    /// share the port) and hands each listening socket to `take`. Fails only when none could
    /// listen, with the last address's error.
    public static func listen(
        on addresses: [InetSocketAddress], backlog: Int32, description: String, _ take: (consuming Descriptor) -> Void
    ) throws(SystemError) {
        try InetSocketBinding.bindEach(
            addresses, type: Int32(SOCK_STREAM.rawValue), operation: "listen on \(description)",
            prepare: { raw, _ in
                var one: Int32 = 1
                setsockopt(raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            },
            finish: { Glibc.listen($0, backlog) == 0 }
        ) { socket, _ in
            take(socket)
        }
    }

    /// The addresses `host` and `port` resolve to, in the resolver's order (getaddrinfo). A
    /// passive look-up without a host yields the wildcard addresses (listen everywhere).
    public static func resolve(host: String?, port: UInt16, passive: Bool) throws(SystemError) -> [InetSocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SystemError(errno: EHOSTUNREACH, operation: "resolve \(host ?? "*"):\(port): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [InetSocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            addresses.append(InetSocketAddress(bytes: Array(UnsafeRawBufferPointer(start: entry.pointee.ai_addr, count: Int(entry.pointee.ai_addrlen)))))
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// Starts a non-blocking connect to `address`: the socket becomes writable when the
    /// attempt ends, and `connectError(_:)` then tells how it ended.
    public static func connect(to address: InetSocketAddress) throws(SystemError) -> Descriptor {
        let socket = Descriptor(taking: try checkedSyscall("socket") {
            Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        let status = address.withSockaddr { Glibc.connect(socket.rawValue, $0, $1) }
        guard status == 0 || errno == EINPROGRESS else { throw SystemError(errno: errno, operation: "connect \(address)") }
        return socket
    }

    /// How a non-blocking connect ended (`SO_ERROR`): nil when it succeeded.
    public static func connectError(_ descriptor: Int32) -> SystemError? {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
            return SystemError(errno: errno, operation: "getsockopt(SO_ERROR)")
        }
        return error == 0 ? nil : SystemError(errno: error, operation: "connect")
    }

    /// Accepts one waiting connection (non-blocking, close-on-exec) with its remote address;
    /// nil when none waits. Errors are the listener's to judge (`ListenerRest`).
    public static func accept(_ listener: Int32) throws(SystemError) -> AcceptedSocket? {
        switch try syscall("accept4", { cf2f_accept4(listener, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)) }) {
        case .wouldBlock:
            return nil
        case .processed(let raw):
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let status = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(raw, $0, &length) }
            }
            let bytes = status == 0 ? withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) } : []
            return AcceptedSocket(socket: Descriptor(taking: raw), remote: InetSocketAddress(bytes: bytes))
        }
    }

    /// Reads what the socket holds, without blocking; `.processed(0)` is the end of the stream.
    public static func receive(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("recv") { Glibc.recv(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
    }

    /// Writes what the socket takes, without blocking and without SIGPIPE on a dead peer.
    public static func send(_ descriptor: Int32, from buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("send") { Glibc.send(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
    }

    /// Ends our side of the stream (FIN) while the other side may still send: an answer is
    /// sent whole before the connection closes, even if the client sent more than was read.
    public static func shutdownWriting(_ descriptor: Int32) {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    /// The port a listening socket is bound to (useful with port 0).
    public static func boundPort(_ descriptor: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard status == 0 else { return nil }
        return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// The connected peer as `HOST:PORT` (numeric), for logs and `port/print`.
    public static func peerDescription(_ descriptor: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address -> Int32 in
                guard getpeername(descriptor, address, &length) == 0 else { return -1 }
                return getnameinfo(address, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard status == 0 else { return nil }
        func text(_ characters: [CChar]) -> String {
            String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let hostText = text(host)
        return hostText.contains(":") ? "[\(hostText)]:\(text(service))" : "\(hostText):\(text(service))"
    }

    /// Frames leave as soon as they are written: one small frame must not wait for more.
    public static func setNoDelay(_ descriptor: Int32) {
        var one: Int32 = 1
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Bounds the bytes the kernel holds that it has not sent yet: past `bytes`, `send` takes
    /// no more and the socket is not writable. Bytes in flight (sent, not yet acknowledged) do
    /// not count, so the send buffer still grows to the path's bandwidth-delay product while
    /// frames stop waiting in it behind a bulk transfer.
    public static func setNotSentLowWater(_ descriptor: Int32, bytes: Int) {
        var value = Int32(clamping: bytes)
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NOTSENT_LOWAT, &value, socklen_t(MemoryLayout<Int32>.size))
    }
}

extension UnixSocket {
    /// Receives one datagram and the path the sender is bound to (nil for an unbound or
    /// abstract sender, which cannot be answered by path).
    public static func receive(
        _ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> IOResult<(count: Int, sender: UnixSocketAddress?)> {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let result = try withUnsafeMutablePointer(to: &address) { pointer throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemError) in
                try syscall("recvfrom") { Glibc.recvfrom(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC), raw, &length) }
            }
        }
        guard case .processed(let count) = result else { return .wouldBlock }
        let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
        var sender: UnixSocketAddress?
        if pathLength > 0 {
            let bytes = withUnsafeBytes(of: address.sun_path) { Array($0.prefix(pathLength)) }
            let candidate = UnixSocketAddress(pathBytes: bytes)
            if !candidate.isAbstract { sender = candidate }
        }
        return .processed((count, sender))
    }
}

/// A connection `InetStreamSocket.accept` took from a listener: its socket and who it is from.
public struct AcceptedSocket: ~Copyable {
    let socket: Descriptor
    public let remote: InetSocketAddress

    /// The socket, for its new owner.
    public consuming func takeSocket() -> Descriptor {
        socket
    }
}
