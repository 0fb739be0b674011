import F2FBase
import F2FCore

/// The queue in front of a friend link: frames wait here while the peer's outbound slot is
/// busy, and CoDel (RFC 8289) drops at the head once they have waited longer than its target
/// for a whole interval. A bulk transfer across a slow path then meets loss soon enough to
/// slow down, instead of building a standing queue that every later frame (a ping, a
/// keystroke) waits behind. Bursts pass untouched; the ring's fixed size is the hard bound.
///
/// The link does not pause the senders feeding it (`isBackedUp` stays false): paused senders
/// would only move the backlog into their sockets and taps, first in first out, out of
/// CoDel's sight.
final class TimedFrameQueue {
    private let frames: FrameQueue
    /// When each queued frame arrived, in a ring parallel to `frames`.
    private var arrivals: [Instant]
    /// The packet type each queued frame leaves as (a plain or a routed frame), parallel too.
    private var types: [F2FPacketType]
    private var head = 0
    private var codel: CoDel

    init(capacity: Int, slotSize: Int, codel: CoDel = CoDel()) {
        frames = FrameQueue(capacity: capacity, slotSize: slotSize)
        arrivals = Array(repeating: .zero, count: capacity)
        types = Array(repeating: .ethernetFrame, count: capacity)
        self.codel = codel
    }

    var count: Int { frames.count }
    var isEmpty: Bool { frames.isEmpty }

    /// Copies `frame` in, stamped `now`; false (nothing stored) when the ring is full.
    func push(_ frame: UnsafeRawBufferPointer, now: Instant, type: F2FPacketType = .ethernetFrame) -> Bool {
        guard frames.push(frame) else { return false }
        arrivals[(head + frames.count - 1) % frames.capacity] = now
        types[(head + frames.count - 1) % frames.capacity] = type
        return true
    }

    /// The packet type of the frame `next` returned.
    var headType: F2FPacketType { types[head] }

    /// The frame to send next, valid until `removeFirst()`; nil when none is left. Frames CoDel
    /// drops on the way are removed and reported through `dropped`, one call each.
    func next(now: Instant, dropped: () -> Void) -> UnsafeRawBufferPointer? {
        while !frames.isEmpty {
            let sojourn = now - arrivals[head]
            guard codel.shouldDrop(sojourn: sojourn, isLast: frames.count == 1, now: now) else {
                return frames.frame(at: 0)
            }
            removeFirst()
            dropped()
        }
        codel.queueEmptied()
        return nil
    }

    func removeFirst() {
        frames.removeFirst(1)
        head = (head + 1) % frames.capacity
    }

    func removeAll() {
        frames.removeAll()
        head = 0
        codel.queueEmptied()
    }
}
