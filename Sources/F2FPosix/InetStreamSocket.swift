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
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host ?? "127.0.0.1", String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SystemError(errno: EADDRNOTAVAIL, operation: "resolve \(host ?? "127.0.0.1"): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var count = 0
        var lastError = SystemError(errno: EADDRNOTAVAIL, operation: "listen on \(host ?? "127.0.0.1"):\(port)")
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            cursor = entry.pointee.ai_next
            let family = entry.pointee.ai_family
            let raw = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard raw >= 0 else { continue }
            let socket = Descriptor(taking: raw)
            var one: Int32 = 1
            setsockopt(raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if family == AF_INET6 { setsockopt(raw, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
            guard Glibc.bind(raw, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0, Glibc.listen(raw, backlog) == 0 else {
                lastError = SystemError(errno: errno, operation: "listen on \(host ?? "127.0.0.1"):\(port)")
                continue
            }
            count += 1
            take(socket)
        }
        guard count > 0 else { throw lastError }
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
