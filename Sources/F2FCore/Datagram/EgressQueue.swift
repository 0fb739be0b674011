import F2FBase

/// The queue in front of a friend link's socket, shaped so no standing queue forms and nothing
/// urgent waits behind bulk: a small control lane (spanning tree, keepalives, probes, handshake
/// messages) that always goes first and is never dropped by CoDel, and a bulk lane of frames
/// managed by `CoDel`, tail-dropped only when its fixed ring is full.
///
/// Generic over what is queued (a frame buffer index, a pooled buffer), so the queue allocates
/// only its two rings, once. Dropped elements are handed back through `discard` for the caller to
/// recycle and count.
public struct EgressQueue<Element> {
    public enum Lane: Sendable {
        case control
        case bulk
    }

    public struct Counters: Equatable, Sendable {
        /// Refused by `enqueue` because the lane's ring was full.
        public var tailDrops = 0
        /// Dropped at the head by CoDel.
        public var codelDrops = 0
        public init() {}
    }

    private var control: Ring
    private var bulk: Ring
    public private(set) var codel: CoDel
    public private(set) var counters = Counters()

    public init(controlCapacity: Int = 64, bulkCapacity: Int = 256, codel: CoDel = CoDel()) {
        control = Ring(capacity: controlCapacity)
        bulk = Ring(capacity: bulkCapacity)
        self.codel = codel
    }

    public var count: Int { control.count + bulk.count }
    public var isEmpty: Bool { count == 0 }

    /// False (and nothing stored) when the lane is full; the caller drops the element.
    public mutating func enqueue(_ element: Element, lane: Lane, now: Instant) -> Bool {
        let stored =
            switch lane {
            case .control: control.push(element, at: now)
            case .bulk: bulk.push(element, at: now)
            }
        if !stored { counters.tailDrops += 1 }
        return stored
    }

    /// The next element to send: control first; bulk after CoDel has dropped what it must
    /// (each handed to `discard`).
    public mutating func dequeue(now: Instant, discard: (Element) -> Void) -> Element? {
        if let entry = control.pop() { return entry.element }
        while let entry = bulk.pop() {
            guard codel.shouldDrop(sojourn: now - entry.time, isLast: bulk.count == 0, now: now) else { return entry.element }
            counters.codelDrops += 1
            discard(entry.element)
        }
        codel.queueEmptied()
        return nil
    }

    /// A fixed ring of (element, enqueue time), allocated once.
    private struct Ring {
        private var slots: [(element: Element, time: Instant)?]
        private var head = 0
        private(set) var count = 0

        init(capacity: Int) {
            precondition(capacity > 0, "a lane needs a slot")
            slots = Array(repeating: nil, count: capacity)
        }

        mutating func push(_ element: Element, at time: Instant) -> Bool {
            guard count < slots.count else { return false }
            slots[(head + count) % slots.count] = (element, time)
            count += 1
            return true
        }

        mutating func pop() -> (element: Element, time: Instant)? {
            guard count > 0, let entry = slots[head] else { return nil }
            slots[head] = nil
            head = (head + 1) % slots.count
            count -= 1
            return entry
        }
    }
}
