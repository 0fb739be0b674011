import F2FBase

/// The type byte of an F2F packet. An open value set: unknown types are carried and offered
/// to listeners, which may ignore them.
public struct F2FPacketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let hello = F2FPacketType(rawValue: 0x01)
    public static let keepalive = F2FPacketType(rawValue: 0x02)
    /// A refusal with a UTF-8 reason, sent before closing, so both sides can log why.
    public static let reject = F2FPacketType(rawValue: 0x03)
    /// Over the authenticated stream: the sender's receiver index, UDP ports and a fresh key
    /// for datagrams sent to it (issue 15, docs/udp-data-path.md).
    public static let udpOffer = F2FPacketType(rawValue: 0x04)
    /// Inside datagrams only: a path probe and its echo (a sequence number, maybe padding).
    public static let udpProbe = F2FPacketType(rawValue: 0x05)
    public static let udpEcho = F2FPacketType(rawValue: 0x06)
    /// Over an authenticated link: the UDP address and port the sender sees the receiver's
    /// datagrams come from (issue 18, docs/nat-traversal.md).
    public static let observedAddress = F2FPacketType(rawValue: 0x07)
    /// Over an authenticated link: the friends the sender wants to reach and is not linked to,
    /// and its local UDP endpoints, so that a mutual friend can introduce them.
    public static let wantedFriends = F2FPacketType(rawValue: 0x08)
    /// Over an authenticated link: a mutual friend's UDP endpoints, to punch and handshake to.
    public static let introduction = F2FPacketType(rawValue: 0x09)
    public static let bpdu = F2FPacketType(rawValue: 0x0F)
    public static let ethernetFrame = F2FPacketType(rawValue: 0x10)
    /// A node's link-state advert, flooded over every friend link (docs/mesh-routing.md).
    public static let meshAdvert = F2FPacketType(rawValue: 0x20)
    /// An Ethernet frame routed to the node that owns its destination, behind a header
    /// naming that node and a hop limit (docs/mesh-routing.md).
    public static let meshFrame = F2FPacketType(rawValue: 0x21)

    public var description: String {
        switch self {
        case .hello: "hello"
        case .keepalive: "keepalive"
        case .reject: "reject"
        case .udpOffer: "udp-offer"
        case .udpProbe: "udp-probe"
        case .udpEcho: "udp-echo"
        case .observedAddress: "observed-address"
        case .wantedFriends: "wanted-friends"
        case .introduction: "introduction"
        case .bpdu: "bpdu"
        case .ethernetFrame: "ethernet-frame"
        case .meshAdvert: "mesh-advert"
        case .meshFrame: "mesh-frame"
        default: "type-0x\(String(rawValue, radix: 16))"
        }
    }
}

/// The fixed packet header: 1-byte type, 2-byte big-endian payload length (0...65 535).
public struct F2FPacketHeader: Equatable, Sendable {
    public static let encodedCount = 3
    public static let maximumPayloadCount = Int(UInt16.max)

    public var type: F2FPacketType
    public var payloadCount: Int

    public init(type: F2FPacketType, payloadCount: Int) {
        precondition((0...Self.maximumPayloadCount).contains(payloadCount), "payload too large")
        self.type = type
        self.payloadCount = payloadCount
    }

    enum Field {
        static let type = 0
        static let payloadCount = 1
    }

    public init(parsing bytes: Span<UInt8>) throws(WireError) {
        try bytes.requireCount(Self.encodedCount)
        type = F2FPacketType(rawValue: bytes[Field.type])
        payloadCount = Int(bytes.bigEndianUInt16(at: Field.payloadCount))
    }

    public func encode(into bytes: inout [UInt8]) {
        bytes.append(type.rawValue)
        bytes.appendBigEndian(UInt16(payloadCount))
    }

    /// Writes the header into the first `encodedCount` bytes of `buffer` (the outbound slot
    /// keeps it in front of the payload, in one buffer).
    public func write(to buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.encodedCount, "buffer too small for a packet header")
        buffer[Field.type] = type.rawValue
        buffer.storeBytes(of: UInt16(payloadCount).bigEndian, toByteOffset: Field.payloadCount, as: UInt16.self)
    }
}
