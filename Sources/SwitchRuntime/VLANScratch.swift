/// Per-engine buffers for the 802.1Q rewrites of one batch: slot i holds the other form
/// (tagged or untagged) of the batch's frame i, so a copy staged on a link stays valid until
/// the batch is flushed, like the received frame itself. Allocated on the first rewrite: a
/// switch without VLANs never pays for it.
final class VLANScratch {
    static let tagSize = 4
    private static let addressesSize = 12
    let slots: Int
    let slotSize: Int
    private var storage: UnsafeMutableRawPointer?

    init(slots: Int, slotSize: Int) {
        self.slots = slots
        self.slotSize = slotSize
    }

    deinit {
        storage?.deallocate()
    }

    /// `frame` with a tag for `vlan` inserted after the addresses, or (`vlan` nil) with its
    /// tag removed; nil if the frame is too short to carry what it should lose.
    func rewrite(_ frame: UnsafeRawBufferPointer, slot: Int, tagging vlan: UInt16?) -> UnsafeRawBufferPointer? {
        precondition(slot < slots, "scratch slot out of range")
        let shortest = Self.addressesSize + (vlan == nil ? Self.tagSize : 0)
        guard let source = frame.baseAddress, frame.count >= shortest else { return nil }
        let base = storage ?? allocate()
        let target = base + slot * slotSize
        target.copyMemory(from: source, byteCount: Self.addressesSize)
        let count: Int
        if let vlan {
            count = min(frame.count + Self.tagSize, slotSize)
            target.storeBytes(of: UInt16(0x8100).bigEndian, toByteOffset: Self.addressesSize, as: UInt16.self)
            target.storeBytes(of: vlan.bigEndian, toByteOffset: Self.addressesSize + 2, as: UInt16.self)
            (target + Self.addressesSize + Self.tagSize).copyMemory(
                from: source + Self.addressesSize, byteCount: count - Self.addressesSize - Self.tagSize)
        } else {
            count = frame.count - Self.tagSize
            (target + Self.addressesSize).copyMemory(
                from: source + Self.addressesSize + Self.tagSize, byteCount: count - Self.addressesSize)
        }
        return UnsafeRawBufferPointer(start: target, count: count)
    }

    private func allocate() -> UnsafeMutableRawPointer {
        let base = UnsafeMutableRawPointer.allocate(byteCount: slots * slotSize, alignment: 16)
        storage = base
        return base
    }
}
