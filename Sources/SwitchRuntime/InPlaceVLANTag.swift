/// 802.1Q tags inserted into or removed from a frame in its own buffer: only the 12 address
/// bytes move, by the tag's 4, where a rewritten copy moves the whole frame (two `memmove`s
/// per frame). For a unicast, whose one copy is the only reader of the buffer; a flood's
/// copies keep the frame as it came and take the other form from `VLANScratch`.
enum InPlaceVLANTag {
    static let tagSize = 4
    private static let addressesSize = 12

    /// `frame` with a tag for `vlan` after its addresses: it starts `tagSize` bytes earlier,
    /// so the 4 bytes in front of it must be writable and unused (the ingress buffers'
    /// headroom).
    @inline(__always)
    static func insert(_ vlan: UInt16, into frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        precondition(frame.count >= addressesSize, "no addresses to move")
        let start = UnsafeMutableRawPointer(mutating: frame.baseAddress!)
        // Both loads before the stores: source and target overlap.
        let first = start.loadUnaligned(as: UInt64.self)
        let last = start.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let moved = start - tagSize
        moved.storeBytes(of: first, as: UInt64.self)
        moved.storeBytes(of: last, toByteOffset: 8, as: UInt32.self)
        // TPID 0x8100, then the tag control: priority 0, the VID.
        moved.storeBytes(of: (0x8100_0000 | UInt32(vlan & 0x0FFF)).bigEndian, toByteOffset: addressesSize, as: UInt32.self)
        return UnsafeRawBufferPointer(start: moved, count: frame.count + tagSize)
    }

    /// `frame` without the tag after its addresses: it starts `tagSize` bytes later.
    @inline(__always)
    static func remove(from frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        precondition(frame.count >= addressesSize + tagSize, "no tag to remove")
        let start = UnsafeMutableRawPointer(mutating: frame.baseAddress!)
        let first = start.loadUnaligned(as: UInt64.self)
        let last = start.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let moved = start + tagSize
        moved.storeBytes(of: first, as: UInt64.self)
        moved.storeBytes(of: last, toByteOffset: 8, as: UInt32.self)
        return UnsafeRawBufferPointer(start: moved, count: frame.count - tagSize)
    }
}
