/// The handshake datagrams of a friend link that starts over UDP (docs/nat-traversal.md). The
/// first byte is the type, as in WireGuard, whose numbers we keep (4 is the transport message,
/// `NoiseDatagramCipher`); Noise XX has a third message, type 5, and hole punching a keep-open
/// datagram, type 6. Indices are little-endian, as in the transport header.
///
///     1 initiation  type, 3 reserved, sender index, Noise message 1, mac1 (16), mac2 (16)
///     2 response    type, 3 reserved, sender index, receiver index, Noise message 2
///     3 cookie      type, 3 reserved, receiver index, nonce (12), sealed cookie (16 + 16 tag)
///     5 completion  type, 3 reserved, sender index, receiver index, Noise message 3
///     6 punch       type, 3 reserved, mac1 (16)
///
/// Only the initiation and the punch carry mac1: they are the only messages a node accepts
/// without a pending handshake of its own, named by a random 32-bit index the sender had to
/// learn from us. The cookie reply (52 bytes) is smaller than the initiation (72 bytes or
/// more), so a responder under load is no amplifier.
public enum HandshakeDatagram {
    public static let initiation: UInt8 = 1
    public static let response: UInt8 = 2
    public static let cookieReply: UInt8 = 3
    public static let completion: UInt8 = 5
    public static let punch: UInt8 = 6

    static let initiationHeaderCount = 8
    static let responseHeaderCount = 12
    static let macsCount = 2 * HandshakeMAC.count
    static let cookieNonceCount = 12
    static let cookieCount = 16
    public static let cookieReplyCount = 8 + cookieNonceCount + cookieCount + 16
    public static let punchCount = 4 + HandshakeMAC.count
    /// The shortest initiation: an ephemeral key and the two MACs.
    static let minimumInitiationCount = initiationHeaderCount + 32 + macsCount
    /// Larger than any handshake message of ours (with a network key, message 2 is 96 bytes).
    static let maximumNoiseCount = 256

    /// The type of a handshake datagram, or nil for anything else (transport, garbage).
    public static func type(of datagram: UnsafeRawBufferPointer) -> UInt8? {
        guard datagram.count >= 4 else { return nil }
        switch datagram[0] {
        case initiation where datagram.count >= minimumInitiationCount: return initiation
        case response where datagram.count > responseHeaderCount: return response
        case cookieReply where datagram.count == cookieReplyCount: return cookieReply
        case completion where datagram.count > responseHeaderCount: return completion
        case punch where datagram.count == punchCount: return punch
        default: return nil
        }
    }

    /// The index at bytes 4..7: the sender's in an initiation, the receiver's in a cookie reply.
    public static func firstIndex(of datagram: UnsafeRawBufferPointer) -> UInt32 {
        littleEndianUInt32(datagram, at: 4)
    }

    /// The receiver index of a response or completion (bytes 8..11).
    public static func receiverIndex(of datagram: UnsafeRawBufferPointer) -> UInt32 {
        littleEndianUInt32(datagram, at: 8)
    }

    static func littleEndianUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    static func appendHeader(_ type: UInt8, to output: inout [UInt8]) {
        output.append(type)
        output.append(0)
        output.append(0)
        output.append(0)
    }

    static func append(_ index: UInt32, to output: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { output.append(UInt8(truncatingIfNeeded: index >> UInt32(shift))) }
    }

    /// A punch datagram for the owner of `mac`'s key: it opens our NAT's mapping towards the
    /// friend and costs the friend one MAC check; nothing answers it.
    public static func makePunch(for mac: HandshakeMAC) -> [UInt8] {
        var datagram: [UInt8] = []
        appendHeader(punch, to: &datagram)
        datagram.append(contentsOf: repeatElement(0, count: HandshakeMAC.count))
        datagram.withUnsafeMutableBytes { raw in
            mac.mac1(over: UnsafeRawBufferPointer(rebasing: raw[0..<4]), into: UnsafeMutableRawBufferPointer(rebasing: raw[4...]))
        }
        return datagram
    }

    /// Whether a punch datagram carries our mac1 (a friend who knows our key is punching).
    public static func isValidPunch(_ datagram: UnsafeRawBufferPointer, for mac: HandshakeMAC) -> Bool {
        datagram.count == punchCount
            && mac.isValidMAC1(UnsafeRawBufferPointer(rebasing: datagram[4...]), over: UnsafeRawBufferPointer(rebasing: datagram[0..<4]))
    }
}
