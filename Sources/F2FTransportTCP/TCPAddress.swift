import F2FCore
import Glibc

/// `HOST:PORT`, `[V6]:PORT` or `PORT` (listen on every address), resolved with getaddrinfo.
public struct TCPAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String?
    public var port: UInt16

    public init?(parsing text: String) {
        let hostPart: Substring?
        let portPart: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        } else {
            hostPart = nil
            portPart = Substring(text)
        }
        guard let port = UInt16(portPart), port > 0 else { return nil }
        if let hostPart, hostPart.isEmpty || hostPart.contains(where: { $0 == " " || $0 == "/" }) { return nil }
        self.host = hostPart.map(String.init)
        self.port = port
    }

    public var description: String {
        guard let host else { return String(port) }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Resolved socket addresses, in the resolver's order.
    func resolve(passive: Bool) throws(CommError) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw CommError(errno: EHOSTUNREACH, operation: "resolve \(self): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            let raw = UnsafeRawBufferPointer(start: entry.pointee.ai_addr, count: Int(entry.pointee.ai_addrlen))
            addresses.append(Array(raw))
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}

extension TCPAddress {
    /// The source prefixes (see `TCPConnection.sourcePrefix`) this address resolves to: a
    /// listener reserves places for connections from them.
    public func sourcePrefixes() -> [String] {
        guard host != nil, let addresses = try? resolve(passive: false) else { return [] }
        return addresses.compactMap { bytes in bytes.withUnsafeBytes(Self.sourcePrefix(ofSocketAddress:)) }
    }

    /// An IPv4 address as itself, an IPv6 address as its /64 (one host or site usually holds
    /// a whole /64), an IPv4-mapped IPv6 address as the IPv4 address.
    static func sourcePrefix(ofSocketAddress raw: UnsafeRawBufferPointer) -> String? {
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
