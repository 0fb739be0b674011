import F2FPosix

/// A UDP endpoint as the NAT-traversal packets carry it (docs/nat-traversal.md):
///
///     0 family (4 or 6)  1..2 port (BE)  3... address (4 or 16 bytes)
enum EndpointCodec {
    static func encodedCount(_ endpoint: InetSocketAddress) -> Int { 3 + (endpoint.isIPv6 ? 16 : 4) }

    static func encode(_ endpoint: InetSocketAddress, into bytes: inout [UInt8]) {
        bytes.append(endpoint.isIPv6 ? 6 : 4)
        bytes.append(UInt8(endpoint.port >> 8))
        bytes.append(UInt8(endpoint.port & 0xFF))
        bytes.append(contentsOf: endpoint.ipBytes)
    }

    /// One endpoint at `offset`, which moves past it; nil when malformed.
    static func parse(_ bytes: UnsafeRawBufferPointer, at offset: inout Int) -> InetSocketAddress? {
        guard offset + 3 <= bytes.count else { return nil }
        let count: Int
        switch bytes[offset] {
        case 4: count = 4
        case 6: count = 16
        default: return nil
        }
        guard offset + 3 + count <= bytes.count else { return nil }
        let port = UInt16(bytes[offset + 1]) << 8 | UInt16(bytes[offset + 2])
        let address = InetSocketAddress(ip: UnsafeRawBufferPointer(rebasing: bytes[(offset + 3)..<(offset + 3 + count)]), port: port)
        offset += 3 + count
        return address
    }
}
