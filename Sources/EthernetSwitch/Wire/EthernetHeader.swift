import F2FBase

/// The fields of an Ethernet II / 802.3 header that switching needs. The frame itself is
/// forwarded untouched; only these values are copied out.
public struct EthernetHeader: Equatable, Sendable {
    public enum Field {
        public static let destination = 0
        public static let source = 6
        public static let etherType = 12
        public static let tagControl = 14
        public static let innerEtherType = 16
    }

    /// Destination, source and EtherType / length.
    public static let minimumCount = 14
    /// With an 802.1Q tag.
    public static let taggedCount = 18
    public static let vlanTagType: UInt16 = 0x8100

    public var destination: MACAddress
    public var source: MACAddress
    /// The EtherType (or 802.3 length) after any 802.1Q tag; open value set, kept as is.
    public var etherType: UInt16
    /// 802.1Q VLAN id, 0 for untagged and priority-tagged frames.
    public var vlanID: UInt16
    public var isTagged: Bool

    public init(destination: MACAddress, source: MACAddress, etherType: UInt16, vlanID: UInt16 = 0, isTagged: Bool = false) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
        self.vlanID = vlanID
        self.isTagged = isTagged
    }

    public init(parsing bytes: Span<UInt8>) throws(WireError) {
        try bytes.requireCount(Self.minimumCount)
        destination = MACAddress(rawValue: bytes.bigEndianUInt48(at: Field.destination))
        source = MACAddress(rawValue: bytes.bigEndianUInt48(at: Field.source))
        let outerType = bytes.bigEndianUInt16(at: Field.etherType)
        if outerType == Self.vlanTagType {
            try bytes.requireCount(Self.taggedCount)
            isTagged = true
            vlanID = bytes.bigEndianUInt16(at: Field.tagControl) & 0x0FFF
            etherType = bytes.bigEndianUInt16(at: Field.innerEtherType)
        } else {
            isTagged = false
            vlanID = 0
            etherType = outerType
        }
    }

    /// The VID of a frame with an 802.1Q tag (0 for a priority tag), nil for an untagged one:
    /// the one tag read of the data path, which must not parse the whole header per frame.
    @inline(__always)
    public static func taggedVID(in frame: Span<UInt8>) -> UInt16? {
        guard frame.count >= taggedCount, frame.bigEndianUInt16(at: Field.etherType) == vlanTagType else { return nil }
        return frame.bigEndianUInt16(at: Field.tagControl) & 0x0FFF
    }

    public var encodedCount: Int { isTagged ? Self.taggedCount : Self.minimumCount }

    public func encode(into bytes: inout [UInt8]) {
        bytes.appendBigEndianUInt48(destination.rawValue)
        bytes.appendBigEndianUInt48(source.rawValue)
        if isTagged {
            bytes.appendBigEndian(Self.vlanTagType)
            bytes.appendBigEndian(vlanID & 0x0FFF)
        }
        bytes.appendBigEndian(etherType)
    }
}
