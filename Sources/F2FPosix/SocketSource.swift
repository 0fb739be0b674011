import Glibc

/// What part of a remote socket address one host controls: the unit of per-source limits.
public enum SocketSource {
    /// An IPv4 address as itself, an IPv6 address as its /64 (one host or site usually holds
    /// a whole /64), an IPv4-mapped IPv6 address as the IPv4 address; nil for other families.
    public static func prefix(ofSocketAddress raw: UnsafeRawBufferPointer) -> String? {
        guard raw.count >= MemoryLayout<sa_family_t>.size else { return nil }
        switch Int32(raw.load(as: sa_family_t.self)) {
        case AF_INET:
            guard raw.count >= MemoryLayout<sockaddr_in>.size else { return nil }
            let offset = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!
            return (0..<4).map { String(raw[offset + $0]) }.joined(separator: ".")
        case AF_INET6:
            guard raw.count >= MemoryLayout<sockaddr_in6>.size else { return nil }
            let offset = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!
            let bytes = (0..<16).map { raw[offset + $0] }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return bytes[12...].map { String($0) }.joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        default:
            return nil
        }
    }
}
