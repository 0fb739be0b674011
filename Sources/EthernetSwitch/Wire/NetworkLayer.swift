/// Where an Ethernet frame's network-layer packet starts: past the MAC addresses and up to two
/// VLAN tags (an 802.1ad service tag, then an 802.1Q customer tag), with the EtherType found
/// there. The readers that look into IP headers (`FlowHash`, `TCPMSSClamp`) start from it.
struct NetworkLayer {
    static let ipv4: UInt16 = 0x0800
    static let ipv6: UInt16 = 0x86DD
    static let customerTag: UInt16 = 0x8100
    static let serviceTag: UInt16 = 0x88A8

    let etherType: UInt16
    /// The packet's first byte, just after the EtherType.
    let offset: Int

    /// Nil when the frame ends inside its header or its tags.
    @inline(__always)
    init?(_ frame: UnsafeRawBufferPointer) {
        guard frame.count >= EthernetHeader.minimumCount else { return nil }
        var typeOffset = EthernetHeader.Field.etherType
        var type = Self.bigEndian(frame, typeOffset)
        for _ in 0..<2 where type == Self.customerTag || type == Self.serviceTag {
            typeOffset += 4
            guard frame.count >= typeOffset + 2 else { return nil }
            type = Self.bigEndian(frame, typeOffset)
        }
        etherType = type
        offset = typeOffset + 2
    }

    @inline(__always)
    static func bigEndian(_ frame: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
    }
}
