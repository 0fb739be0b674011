import EthernetSwitch
import F2FCore

/// `TCPMSSClamp` as friend links apply it to F2F packets on a datagram path: the guests' TCP
/// is told to send segments that fit one datagram, since a larger frame would cross as two
/// fragments and be lost with either. Only frame packets carry a frame: after the packet's
/// header, and a routed frame also after its mesh header.
struct PacketMSSClamp {
    /// The largest frame that crosses in one datagram whether it goes plain or routed: a
    /// connection's frames may take either form as the mesh's routes come and go, so its SYN
    /// is clamped for the larger one (the routed frame's mesh header).
    let maximumFrameCount: Int

    /// For datagrams carrying `payload` bytes of packet.
    init(payload: Int) {
        maximumFrameCount = payload - F2FPacketHeader.encodedCount - MeshFrameHeader.encodedCount
    }

    /// Where the Ethernet frame starts in a packet of this type; nil for packets that carry
    /// no frame.
    @inline(__always)
    static func frameOffset(inPacketOf type: UInt8?) -> Int? {
        switch type {
        case F2FPacketType.ethernetFrame.rawValue: F2FPacketHeader.encodedCount
        case F2FPacketType.meshFrame.rawValue: F2FPacketHeader.encodedCount + MeshFrameHeader.encodedCount
        default: nil
        }
    }

    /// Whether `packet` (header first) carries a SYN whose MSS `clamp` would lower; reads
    /// only, so a sender that does not own the packet copies just the few that need it.
    @inline(__always)
    func needsClamp(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard let offset = Self.frameOffset(inPacketOf: packet.first), offset < packet.count else { return false }
        return TCPMSSClamp.needsClamp(UnsafeRawBufferPointer(rebasing: packet[offset...]), maximumFrameCount: maximumFrameCount)
    }

    /// Lowers the MSS of a SYN `packet` carries, in place (the checksum mended).
    @inline(__always)
    func clamp(_ packet: UnsafeMutableRawBufferPointer) {
        guard let offset = Self.frameOffset(inPacketOf: packet.first), offset < packet.count else { return }
        TCPMSSClamp.clamp(UnsafeMutableRawBufferPointer(rebasing: packet[offset...]), maximumFrameCount: maximumFrameCount)
    }
}
