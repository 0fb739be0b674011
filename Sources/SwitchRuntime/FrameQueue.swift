/// A port's bounded burst queue: frames the socket could not take yet, sent when it becomes
/// writable. Fixed slots allocated on first use; when full, new frames are dropped (tail drop)
/// rather than buffered without bound.
final class FrameQueue {
    let capacity: Int
    let slotSize: Int
    private var storage: UnsafeMutableRawPointer?
    private var lengths: [Int]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int, slotSize: Int) {
        self.capacity = capacity
        self.slotSize = slotSize
        lengths = Array(repeating: 0, count: capacity)
    }

    deinit {
        storage?.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// Copies `frame` in; false (and nothing stored) when the queue is full.
    func push(_ frame: UnsafeRawBufferPointer) -> Bool {
        precondition(frame.count <= slotSize, "frame larger than the queue slot")
        guard count < capacity else { return false }
        let base = storage ?? allocateStorage()
        let slot = (head + count) % capacity
        if let source = frame.baseAddress {
            (base + slot * slotSize).copyMemory(from: source, byteCount: frame.count)
        }
        lengths[slot] = frame.count
        count += 1
        return true
    }

    /// The `offset`-th queued frame from the front.
    func frame(at offset: Int) -> UnsafeRawBufferPointer {
        precondition(offset < count, "queue index out of range")
        let slot = (head + offset) % capacity
        return UnsafeRawBufferPointer(start: storage.map { $0 + slot * slotSize }, count: lengths[slot])
    }

    func removeFirst(_ n: Int) {
        precondition(n <= count, "removing more than queued")
        head = (head + n) % capacity
        count -= n
    }

    func removeAll() {
        head = 0
        count = 0
    }

    private func allocateStorage() -> UnsafeMutableRawPointer {
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity * slotSize, alignment: 16)
        storage = base
        return base
    }
}
