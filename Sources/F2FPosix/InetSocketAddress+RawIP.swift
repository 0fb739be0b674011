import Glibc

/// Addresses as F2F packets carry them (observed addresses, introductions: the raw 4 or 16
/// address bytes and a port), and a datagram's sender as the UDP handshake's cookies see it.
extension InetSocketAddress {
    /// IPv4 from 4 address bytes, IPv6 from 16; nil for any other count.
    public init?(ip: some Collection<UInt8>, port: UInt16) {
        let address = Array(ip)
        switch address.count {
        case 4:
            var socket = sockaddr_in()
            socket.sin_family = sa_family_t(AF_INET)
            socket.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &socket.sin_addr) { $0.copyBytes(from: address) }
            self.init(bytes: withUnsafeBytes(of: socket) { Array($0) })
        case 16:
            var socket = sockaddr_in6()
            socket.sin6_family = sa_family_t(AF_INET6)
            socket.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &socket.sin6_addr) { $0.copyBytes(from: address) }
            self.init(bytes: withUnsafeBytes(of: socket) { Array($0) })
        default:
            return nil
        }
    }

    /// The address bytes: 4 for IPv4, 16 for IPv6 (empty for anything else).
    public var ipBytes: [UInt8] {
        bytes.withUnsafeBytes { Self.ip(ofSocketAddress: $0).map(Array.init) ?? [] }
    }

    static func ip(ofSocketAddress raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard raw.count >= MemoryLayout<sa_family_t>.size else { return nil }
        switch Int32(raw.load(as: sa_family_t.self)) {
        case AF_INET where raw.count >= MemoryLayout<sockaddr_in>.size:
            return UnsafeRawBufferPointer(rebasing: raw[4..<8])
        case AF_INET6 where raw.count >= MemoryLayout<sockaddr_in6>.size:
            return UnsafeRawBufferPointer(rebasing: raw[8..<24])
        default:
            return nil
        }
    }
}

extension DatagramSource {
    /// The sender's address bytes (4 or 16) and port, lent for the call: nothing is copied out.
    public func withIP<R>(_ body: (UnsafeRawBufferPointer, UInt16) -> R) -> R {
        withUnsafeBytes(of: &storage) { raw in
            let socket = UnsafeRawBufferPointer(rebasing: raw[..<Int(length)])
            let ip = InetSocketAddress.ip(ofSocketAddress: socket) ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let port = socket.count >= 4 ? UInt16(socket[2]) << 8 | UInt16(socket[3]) : 0
            return body(ip, port)
        }
    }
}
