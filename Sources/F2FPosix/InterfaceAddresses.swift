import Glibc

/// The addresses of this host's interfaces that are up, without loopback and IPv6 link-local
/// addresses (`getifaddrs`): the local endpoints a node offers in NAT traversal, so that two
/// friends behind the same NAT (which may not route their public addresses back inside) can
/// reach each other directly.
public enum InterfaceAddresses {
    public static func current(port: UInt16, includeIPv6: Bool) -> [InetSocketAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [InetSocketAddress] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            cursor = entry.pointee.ifa_next
            let flags = Int32(bitPattern: entry.pointee.ifa_flags)
            guard flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0, let address = entry.pointee.ifa_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                }
                if let endpoint = InetSocketAddress(ip: ip, port: port) { addresses.append(endpoint) }
            case AF_INET6 where includeIPv6:
                let ip = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
                // fe80::/10 needs a scope id a friend cannot use.
                guard !(ip[0] == 0xFE && ip[1] & 0xC0 == 0x80), let endpoint = InetSocketAddress(ip: ip, port: port) else { continue }
                addresses.append(endpoint)
            default:
                continue
            }
        }
        return addresses
    }
}
