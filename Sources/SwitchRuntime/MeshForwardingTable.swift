import EthernetSwitch

/// What the engine needs from the mesh's routes, flattened for one dictionary lookup per
/// frame: per station, the owner and the peer port its path starts on; per node, that port.
/// Rebuilt by `MeshRouter` after each route computation (never on the data path).
public struct MeshForwardingTable: Sendable {
    public struct Hop: Equatable, Sendable {
        public var owner: UInt64
        public var port: Int

        public init(owner: UInt64, port: Int) {
            self.owner = owner
            self.port = port
        }
    }

    /// This node's id: routed frames naming it are delivered here.
    public var ownID: UInt64
    /// Station key (`MeshAdvert.stationKey`) → owner and first hop; other nodes' stations only.
    public var stations: [UInt64: Hop] = [:]
    /// Node → the peer port of the next hop towards it.
    public var nodes: [UInt64: Int] = [:]

    public init(ownID: UInt64) {
        self.ownID = ownID
    }
}

/// Routed frames seen by this engine (`mesh/print`).
public struct MeshCounters: Equatable, Sendable {
    /// Frames from local ports sent towards their destination's owner.
    public var routed: UInt64 = 0
    /// Routed frames for stations here, delivered on a local port.
    public var delivered: UInt64 = 0
    /// Routed frames for stations here that were not found: sent to every local port.
    public var deliveredByFlood: UInt64 = 0
    /// Routed frames passed on towards their owner.
    public var relayed: UInt64 = 0
    /// Routed frames dropped: hop limit reached, no route to the owner, or malformed.
    public var droppedHopLimit: UInt64 = 0
    public var droppedNoRoute: UInt64 = 0
    public var droppedMalformed: UInt64 = 0

    public init() {}
}

/// Per-engine buffers where routed packets (mesh header + frame) are built: slot i for the
/// batch's frame i, valid until the batch is flushed, like the received frame itself.
final class MeshScratch {
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

    /// `header` followed by `frame`, in `slot`.
    func wrap(_ frame: UnsafeRawBufferPointer, header: MeshFrameHeader, slot: Int) -> UnsafeRawBufferPointer {
        precondition(slot < slots && frame.count + MeshFrameHeader.encodedCount <= slotSize, "mesh scratch slot out of range")
        let base = storage ?? allocate()
        let target = UnsafeMutableRawBufferPointer(start: base + slot * slotSize, count: slotSize)
        header.write(to: target)
        if let source = frame.baseAddress {
            (base + slot * slotSize + MeshFrameHeader.encodedCount).copyMemory(from: source, byteCount: frame.count)
        }
        return UnsafeRawBufferPointer(start: target.baseAddress, count: MeshFrameHeader.encodedCount + frame.count)
    }

    private func allocate() -> UnsafeMutableRawPointer {
        let base = UnsafeMutableRawPointer.allocate(byteCount: slots * slotSize, alignment: 16)
        storage = base
        return base
    }
}
