import F2FBase

/// Puts fragmented F2F packets back together on the receiving side of a datagram link, within
/// fixed bounds: at most `slotCount` packets in flight and `maximumBufferedCount` bytes in them,
/// each given up `timeout` after its first fragment. The path loses, duplicates and reorders
/// fragments; a packet missing one is dropped whole (the guests' TCP resends it), never buffered
/// without bound.
///
/// When every slot is taken or the byte bound would be passed, the oldest packet in flight is
/// given up for the new one: on a lossy path the oldest incomplete packet is the one most likely
/// to have lost a fragment. Slot buffers keep their capacity, so once warm no fragment allocates.
public struct Reassembler: Sendable {
    public struct Configuration: Sendable {
        public var slotCount: Int
        public var maximumBufferedCount: Int
        public var timeout: Duration

        /// Eight 9000-byte frames, or any packet up to 64 KiB with room for a few more.
        public init(slotCount: Int = 8, maximumBufferedCount: Int = 128 * 1024, timeout: Duration = .milliseconds(500)) {
            self.slotCount = slotCount
            self.maximumBufferedCount = maximumBufferedCount
            self.timeout = timeout
        }
    }

    public struct Counters: Equatable, Sendable {
        public var completed = 0
        /// A fragment whose index had already arrived.
        public var duplicates = 0
        /// A fragment disagreeing with its packet's other fragments (same id, other count or length).
        public var inconsistent = 0
        /// Packets given up after `timeout`.
        public var timedOut = 0
        /// Packets given up to make room for a newer one.
        public var evicted = 0
        /// Packets larger than `maximumBufferedCount`: never buffered.
        public var tooLarge = 0
        public init() {}
    }

    public enum Outcome: Equatable, Sendable {
        /// Stored; the packet still misses fragments.
        case stored
        /// The packet is whole and was handed to `deliver`.
        case completed
        case duplicate
        case inconsistent
        case tooLarge
    }

    private enum SlotState: Sendable {
        case free
        case assembling(packetID: UInt32, totalCount: Int, fragmentCount: Int, received: UInt64, firstArrival: Instant)
    }

    private struct Slot: Sendable {
        var state = SlotState.free
        var buffer: [UInt8] = []
    }

    public let configuration: Configuration
    public private(set) var counters = Counters()
    private var slots: [Slot]
    private var bufferedCount = 0

    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.slotCount > 0, "a reassembler needs a slot")
        self.configuration = configuration
        slots = Array(repeating: Slot(), count: configuration.slotCount)
    }

    /// Packets currently in flight.
    public var pendingCount: Int {
        slots.count(where: { if case .assembling = $0.state { true } else { false } })
    }

    /// Bytes reserved by packets in flight.
    public var pendingByteCount: Int { bufferedCount }

    /// The earliest moment `expire(now:)` has something to give up, for the loop's timer.
    public var nextDeadline: Instant? {
        var earliest: Instant?
        for slot in slots {
            if case .assembling(_, _, _, _, let first) = slot.state {
                let deadline = first + configuration.timeout
                if earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
            }
        }
        return earliest
    }

    /// One fragment (header already parsed from `datagram`). A completed packet is lent to
    /// `deliver` for the duration of the call.
    public mutating func receive(
        _ header: FragmentHeader, datagram: UnsafeRawBufferPointer, now: Instant, deliver: ([UInt8]) -> Void
    ) -> Outcome {
        expire(now: now)
        guard header.totalCount <= configuration.maximumBufferedCount else {
            counters.tooLarge += 1
            return .tooLarge
        }
        let bit = UInt64(1) << UInt64(header.index)
        let index: Int
        if let existing = slotIndex(of: header.packetID) {
            guard case .assembling(let id, let total, let fragments, let received, let first) = slots[existing].state else {
                preconditionFailure("slotIndex found a free slot")
            }
            guard total == header.totalCount, fragments == header.count else {
                counters.inconsistent += 1
                return .inconsistent
            }
            guard received & bit == 0 else {
                counters.duplicates += 1
                return .duplicate
            }
            slots[existing].state = .assembling(
                packetID: id, totalCount: total, fragmentCount: fragments, received: received | bit, firstArrival: first)
            index = existing
        } else {
            index = makeRoom(for: header.totalCount)
            slots[index].buffer.removeAll(keepingCapacity: true)
            slots[index].buffer.append(contentsOf: repeatElement(0, count: header.totalCount))
            slots[index].state = .assembling(
                packetID: header.packetID, totalCount: header.totalCount, fragmentCount: header.count, received: bit, firstArrival: now)
            bufferedCount += header.totalCount
        }
        let payload = UnsafeRawBufferPointer(rebasing: datagram[FragmentHeader.encodedCount...])
        slots[index].buffer.withUnsafeMutableBytes { buffer in
            UnsafeMutableRawBufferPointer(rebasing: buffer[header.offset..<header.offset + header.payloadCount]).copyMemory(from: payload)
        }
        guard case .assembling(_, let total, let fragments, let received, _) = slots[index].state else {
            preconditionFailure("slot just filled")
        }
        let complete = fragments == 64 ? received == .max : received == (UInt64(1) << UInt64(fragments)) - 1
        guard complete else { return .stored }
        release(index, totalCount: total)
        counters.completed += 1
        deliver(slots[index].buffer)
        return .completed
    }

    /// Gives up packets whose first fragment came `timeout` ago or earlier.
    public mutating func expire(now: Instant) {
        for index in slots.indices {
            if case .assembling(_, let total, _, _, let first) = slots[index].state, now - first >= configuration.timeout {
                release(index, totalCount: total)
                counters.timedOut += 1
            }
        }
    }

    private func slotIndex(of packetID: UInt32) -> Int? {
        slots.firstIndex { if case .assembling(let id, _, _, _, _) = $0.state { id == packetID } else { false } }
    }

    /// A free slot, after giving up the oldest packets until one is free and `count` more bytes fit.
    private mutating func makeRoom(for count: Int) -> Int {
        while true {
            if bufferedCount + count <= configuration.maximumBufferedCount,
                let free = slots.firstIndex(where: { if case .free = $0.state { true } else { false } })
            {
                return free
            }
            var oldest: (index: Int, first: Instant, total: Int)?
            for index in slots.indices {
                if case .assembling(_, let total, _, _, let first) = slots[index].state, oldest.map({ first < $0.first }) ?? true {
                    oldest = (index, first, total)
                }
            }
            // count <= maximumBufferedCount was checked, so an empty reassembler always has room.
            guard let oldest else { preconditionFailure("no room in an empty reassembler") }
            release(oldest.index, totalCount: oldest.total)
            counters.evicted += 1
        }
    }

    private mutating func release(_ index: Int, totalCount: Int) {
        slots[index].state = .free
        bufferedCount -= totalCount
    }
}
