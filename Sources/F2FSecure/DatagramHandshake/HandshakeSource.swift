/// A datagram's source as the handshake sees it: the address and port (cookies are made for
/// both), and the part that rate limits group by (an IPv4 address, an IPv6 /64). A value
/// without references, so building one for a stranger's datagram allocates nothing.
public struct HandshakeSource: Hashable, Sendable {
    /// IPv6 address bytes 0..7 (0 for IPv4), bytes 8..15 (the IPv4 address in the low 32 bits).
    public var high: UInt64
    public var low: UInt64
    public var port: UInt16
    public var isIPv6: Bool

    public init(high: UInt64, low: UInt64, port: UInt16, isIPv6: Bool) {
        self.high = high
        self.low = low
        self.port = port
        self.isIPv6 = isIPv6
    }

    /// What per-source limits count by.
    public var prefix: UInt64 { isIPv6 ? high : low }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 19) { bytes in
            for index in 0..<8 {
                bytes[index] = UInt8(truncatingIfNeeded: high >> UInt64(8 * index))
                bytes[8 + index] = UInt8(truncatingIfNeeded: low >> UInt64(8 * index))
            }
            bytes[16] = UInt8(port >> 8)
            bytes[17] = UInt8(port & 0xFF)
            bytes[18] = isIPv6 ? 6 : 4
            return body(UnsafeRawBufferPointer(bytes))
        }
    }
}
