import CF2FSystem
import Glibc

/// The loop both UDP and TCP share: one socket per address (IPv6 sockets IPv6-only, so that an
/// IPv4 socket can share the port), bound, and handed on. Succeeds when at least one address
/// could be used; otherwise throws the last address's error.
enum InetSocketBinding {
    /// `prepare` sets options before `bind`; `finish` (e.g. `listen`) runs after it and
    /// returns false to skip the address, leaving errno set.
    static func bindEach(
        _ addresses: [InetSocketAddress], type: Int32, operation: String,
        prepare: (Int32, InetSocketAddress) -> Void, finish: (Int32) -> Bool = { _ in true },
        _ take: (consuming Descriptor, InetSocketAddress) -> Void
    ) throws(SystemError) {
        var count = 0
        var lastError = SystemError(errno: EADDRNOTAVAIL, operation: operation)
        for address in addresses {
            let raw = Glibc.socket(address.family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard raw >= 0 else { continue }
            let socket = Descriptor(taking: raw)
            var one: Int32 = 1
            if address.family == AF_INET6 { setsockopt(raw, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
            prepare(raw, address)
            guard address.withSockaddr({ Glibc.bind(raw, $0, $1) }) == 0, finish(raw) else {
                lastError = SystemError(errno: errno, operation: operation)
                continue
            }
            count += 1
            take(socket, address)
        }
        guard count > 0 else { throw lastError }
    }
}
