import F2FBase
import F2FCore

/// The queue in front of a friend link, fair per flow: FQ-CoDel (RFC 8290) over fixed slots.
/// Frames are put in one of `flowCount` queues by their flow's hash (`FlowHash`: the 5-tuple),
/// queues take turns by deficit round robin with a quantum of one full frame, and a queue that
/// was empty (a ping, a keystroke, a TCP handshake: a *sparse* flow) is served before the ones
/// that stayed busy. Each queue has its own CoDel (RFC 8289), so a bulk transfer that builds a
/// standing queue loses frames at its head and slows down, while the sparse flows beside it
/// never wait behind it: a ping staged behind a thousand bulk frames leaves next.
///
/// When every slot is taken, the head of the longest queue (in bytes) is dropped for the new
/// frame (RFC 8290 §4.1), never the new frame of a sparse flow.
///
/// Nothing allocates after the first frame (the slot storage, allocated then, as `FrameQueue`
/// does, so that an idle link costs no buffers); the lists are indices into fixed arrays.
final class FairFrameQueue {
    let capacity: Int
    let slotSize: Int
    let flowCount: Int
    /// Bytes a queue may send per round (RFC 8290 §4: one MTU-sized frame).
    let quantum: Int

    private var storage: UnsafeMutableRawPointer?
    // Per slot: its frame's length, arrival, packet type, and the next slot of its queue (or
    // of the free list).
    private var lengths: [Int]
    private var arrivals: [Instant]
    private var types: [F2FPacketType]
    private var nextSlot: [Int]
    private var freeSlot: Int

    // Per flow queue.
    private var heads: [Int]
    private var tails: [Int]
    private var frameCounts: [Int]
    private var backlogs: [Int]
    private var deficits: [Int]
    private var codels: [CoDel]
    /// Which round-robin list a queue is on, and the next queue on it.
    private var lists: [List]
    private var nextFlow: [Int]
    private var newFlows = FlowList()
    private var oldFlows = FlowList()
    /// The queue whose head `next` returned, for `removeFirst` and `headType`.
    private var current = FairFrameQueue.none

    private(set) var count = 0

    private static let none = -1

    enum List: UInt8 {
        case none, new, old
    }

    struct FlowList {
        var head = FairFrameQueue.none
        var tail = FairFrameQueue.none
        var isEmpty: Bool { head == FairFrameQueue.none }
    }

    init(capacity: Int, slotSize: Int, flowCount: Int = 64, quantum: Int = 1514, codel: CoDel = CoDel()) {
        precondition(capacity > 0 && flowCount > 0 && quantum > 0, "an empty fair queue")
        self.capacity = capacity
        self.slotSize = slotSize
        self.flowCount = flowCount
        self.quantum = quantum
        lengths = Array(repeating: 0, count: capacity)
        arrivals = Array(repeating: .zero, count: capacity)
        types = Array(repeating: .ethernetFrame, count: capacity)
        nextSlot = Array(0..<capacity).map { $0 + 1 < capacity ? $0 + 1 : Self.none }
        freeSlot = 0
        heads = Array(repeating: Self.none, count: flowCount)
        tails = Array(repeating: Self.none, count: flowCount)
        frameCounts = Array(repeating: 0, count: flowCount)
        backlogs = Array(repeating: 0, count: flowCount)
        deficits = Array(repeating: 0, count: flowCount)
        codels = Array(repeating: codel, count: flowCount)
        lists = Array(repeating: .none, count: flowCount)
        nextFlow = Array(repeating: Self.none, count: flowCount)
    }

    deinit {
        storage?.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// Copies `frame` in, stamped `now`, into the queue of the flow `flowHash` names. When every
    /// slot is taken, the head of the longest queue is dropped first and false returned (the
    /// caller counts a drop); the new frame is stored either way.
    @discardableResult
    func push(_ frame: UnsafeRawBufferPointer, flowHash: UInt32, now: Instant, type: F2FPacketType = .ethernetFrame) -> Bool {
        precondition(frame.count <= slotSize, "frame larger than the queue slot")
        var madeRoom = false
        if freeSlot == Self.none {
            dropHead(of: longestFlow())
            madeRoom = true
        }
        let base = storage ?? allocateStorage()
        let slot = freeSlot
        freeSlot = nextSlot[slot]
        if let source = frame.baseAddress {
            (base + slot * slotSize).copyMemory(from: source, byteCount: frame.count)
        }
        lengths[slot] = frame.count
        arrivals[slot] = now
        types[slot] = type
        nextSlot[slot] = Self.none

        let flow = Int(flowHash % UInt32(flowCount))
        if tails[flow] == Self.none {
            heads[flow] = slot
        } else {
            nextSlot[tails[flow]] = slot
        }
        tails[flow] = slot
        frameCounts[flow] += 1
        backlogs[flow] += frame.count
        count += 1
        if lists[flow] == .none {
            // A sparse flow: served before the busy ones, with a fresh quantum.
            deficits[flow] = quantum
            append(flow, to: .new)
        }
        return !madeRoom
    }

    /// The packet type of the frame `next` returned.
    var headType: F2FPacketType {
        precondition(current != Self.none, "no frame taken")
        return types[heads[current]]
    }

    /// The frame to send next, valid until `removeFirst()`; nil when none is left. Frames the
    /// queues' CoDel drops on the way are removed and reported through `dropped`, one call each.
    func next(now: Instant, dropped: () -> Void) -> UnsafeRawBufferPointer? {
        current = Self.none
        while true {
            let isNew: Bool
            let flow: Int
            if !newFlows.isEmpty {
                flow = newFlows.head
                isNew = true
            } else if !oldFlows.isEmpty {
                flow = oldFlows.head
                isNew = false
            } else {
                return nil
            }
            if deficits[flow] <= 0 {
                deficits[flow] += quantum
                removeHead(of: isNew ? .new : .old)
                append(flow, to: .old)
                continue
            }
            while heads[flow] != Self.none {
                let slot = heads[flow]
                let sojourn = now - arrivals[slot]
                guard codels[flow].shouldDrop(sojourn: sojourn, isLast: frameCounts[flow] == 1, now: now) else { break }
                dropHead(of: flow)
                dropped()
            }
            guard heads[flow] != Self.none else {
                codels[flow].queueEmptied()
                removeHead(of: isNew ? .new : .old)
                // An emptied new flow goes to the old list once (RFC 8290 §4.2), so that a
                // flow cannot stay "new" for ever by sending one frame at a time.
                if isNew { append(flow, to: .old) }
                continue
            }
            let slot = heads[flow]
            deficits[flow] -= lengths[slot]
            current = flow
            return UnsafeRawBufferPointer(start: storage.map { $0 + slot * slotSize }, count: lengths[slot])
        }
    }

    /// Removes the frame `next` returned.
    func removeFirst() {
        precondition(current != Self.none, "no frame taken")
        dropHead(of: current)
        current = Self.none
    }

    func removeAll() {
        for flow in 0..<flowCount {
            while heads[flow] != Self.none { dropHead(of: flow) }
            codels[flow].queueEmptied()
            lists[flow] = .none
            nextFlow[flow] = Self.none
        }
        newFlows = FlowList()
        oldFlows = FlowList()
        current = Self.none
    }

    // MARK: Slots and lists

    private func dropHead(of flow: Int) {
        let slot = heads[flow]
        precondition(slot != Self.none, "dropping from an empty flow queue")
        heads[flow] = nextSlot[slot]
        if heads[flow] == Self.none { tails[flow] = Self.none }
        frameCounts[flow] -= 1
        backlogs[flow] -= lengths[slot]
        count -= 1
        nextSlot[slot] = freeSlot
        freeSlot = slot
    }

    /// The flow with the most bytes queued (only asked when every slot is taken).
    private func longestFlow() -> Int {
        var longest = 0
        for flow in 1..<flowCount where backlogs[flow] > backlogs[longest] { longest = flow }
        return longest
    }

    private func append(_ flow: Int, to list: List) {
        lists[flow] = list
        nextFlow[flow] = Self.none
        switch list {
        case .new: append(flow, onto: &newFlows)
        case .old: append(flow, onto: &oldFlows)
        case .none: break
        }
    }

    private func append(_ flow: Int, onto list: inout FlowList) {
        if list.tail == Self.none {
            list.head = flow
        } else {
            nextFlow[list.tail] = flow
        }
        list.tail = flow
    }

    private func removeHead(of list: List) {
        switch list {
        case .new: removeHead(from: &newFlows)
        case .old: removeHead(from: &oldFlows)
        case .none: break
        }
    }

    private func removeHead(from list: inout FlowList) {
        let flow = list.head
        list.head = nextFlow[flow]
        if list.head == Self.none { list.tail = Self.none }
        nextFlow[flow] = Self.none
        lists[flow] = .none
    }

    private func allocateStorage() -> UnsafeMutableRawPointer {
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity * slotSize, alignment: 16)
        storage = base
        return base
    }
}
