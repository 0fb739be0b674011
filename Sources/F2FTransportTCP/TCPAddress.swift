import F2FCore
import F2FPosix

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
    func resolve(passive: Bool) throws(ConnectionError) -> [InetSocketAddress] {
        do {
            return try InetStreamSocket.resolve(host: host, port: port, passive: passive)
        } catch {
            throw ConnectionError.system(errno: error.errno, operation: error.operation)
        }
    }
}

extension TCPAddress {
    /// The source prefixes (see `TCPConnection.sourcePrefix`) this address resolves to: a
    /// listener reserves places for connections from them.
    public func sourcePrefixes() -> [String] {
        guard host != nil, let addresses = try? resolve(passive: false) else { return [] }
        return addresses.compactMap(\.sourcePrefix)
    }
}
