import Glibc

/// A resolved IPv4 or IPv6 socket address: the bytes of a `sockaddr_in`/`sockaddr_in6`, so
/// that code outside F2FPosix can keep, compare and describe one without libc types.
public struct InetSocketAddress: Hashable, Sendable, CustomStringConvertible {
    let bytes: [UInt8]

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    var family: Int32 {
        guard bytes.count >= MemoryLayout<sa_family_t>.size else { return AF_UNSPEC }
        return Int32(bytes.withUnsafeBytes { $0.load(as: sa_family_t.self) })
    }

    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        bytes.withUnsafeBytes { raw in body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) }
    }

    /// The part of the address one host controls (see `SocketSource`), nil for other families.
    public var sourcePrefix: String? {
        bytes.withUnsafeBytes(SocketSource.prefix(ofSocketAddress:))
    }

    /// Numeric `HOST:PORT` (`unknown` when the address cannot be shown).
    public var description: String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = bytes.isEmpty ? -1 : withSockaddr {
            getnameinfo($0, $1, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
        }
        guard status == 0 else { return "unknown" }
        func text(_ characters: [CChar]) -> String {
            String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return "\(text(host)):\(text(service))"
    }
}
