import F2FBase
import F2FSecure

/// The `udp-offer` packet, sent over the Noise-authenticated stream once a friend link is up and
/// again at every rekey: "send me datagrams naming this index, to these ports, sealed with this
/// key". Each side offers the key for its own receiving direction, so the datagram session
/// authenticates exactly the friend the stream's XX handshake proved, without a handshake of
/// its own (that comes later, for NAT traversal: issue 18).
///
///     0..3 receiver index (BE)  4..5 IPv4 port  6..7 IPv6 port (0: none)  8..39 key
struct UDPOffer {
    static let encodedCount = 8 + DatagramSessionKey.byteCount

    var index: UInt32
    var portIPv4: UInt16
    var portIPv6: UInt16
    var key: DatagramSessionKey

    init(index: UInt32, portIPv4: UInt16, portIPv6: UInt16, key: DatagramSessionKey) {
        self.index = index
        self.portIPv4 = portIPv4
        self.portIPv6 = portIPv6
        self.key = key
    }

    init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedCount,
            let key = DatagramSessionKey(bytes: UnsafeRawBufferPointer(rebasing: bytes[8...]))
        else { return nil }
        index = (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[$1]) }
        portIPv4 = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        portIPv6 = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        self.key = key
    }

    /// Writes the offer into `buffer`; returns its length.
    func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        for shift in 0..<4 { buffer[shift] = UInt8(truncatingIfNeeded: index >> UInt32(24 - 8 * shift)) }
        buffer[4] = UInt8(portIPv4 >> 8)
        buffer[5] = UInt8(portIPv4 & 0xFF)
        buffer[6] = UInt8(portIPv6 >> 8)
        buffer[7] = UInt8(portIPv6 & 0xFF)
        key.withUnsafeBytes { raw in
            UnsafeMutableRawBufferPointer(rebasing: buffer[8..<Self.encodedCount]).copyMemory(from: raw)
        }
        return Self.encodedCount
    }
}
