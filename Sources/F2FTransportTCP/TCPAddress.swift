import F2FCore
import F2FPosix
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
    func resolve(passive: Bool) throws(ConnectionError) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ConnectionError.system(errno: EHOSTUNREACH, operation: "resolve \(self): \(String(cString: gai_strerror(status)))")
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
        return addresses.compactMap { bytes in bytes.withUnsafeBytes(SocketSource.prefix(ofSocketAddress:)) }
    }
}
