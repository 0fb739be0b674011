import F2FBase
@testable import SwitchRuntime
import Testing

/// The friend link's queue on virtual time: bursts pass, a standing queue is cut at its head
/// after CoDel's interval, and frames keep their order and bytes.
@Suite struct TimedFrameQueueTests {
    func at(_ milliseconds: Int) -> Instant { Instant(nanoseconds: Int64(milliseconds) * 1_000_000) }

    func push(_ queue: TimedFrameQueue, _ bytes: [UInt8], at time: Instant) -> Bool {
        bytes.withUnsafeBytes { queue.push($0, now: time) }
    }

    /// Takes the next frame at `time`; the frame's first byte and how many were dropped first.
    func take(_ queue: TimedFrameQueue, at time: Instant) -> (first: UInt8?, dropped: Int) {
        var dropped = 0
        let frame = queue.next(now: time) { dropped += 1 }
        let first = frame?.first
        if frame != nil { queue.removeFirst() }
        return (first, dropped)
    }

    @Test func keepsOrderAndTailDropsWhenFull() {
        let queue = TimedFrameQueue(capacity: 3, slotSize: 16)
        #expect(push(queue, [1], at: at(0)))
        #expect(push(queue, [2, 2], at: at(0)))
        #expect(push(queue, [3, 3, 3], at: at(0)))
        #expect(!push(queue, [4], at: at(0)))
        #expect(take(queue, at: at(1)).first == 1)
        #expect(push(queue, [5], at: at(1)))  // wraps around the ring
        var dropped = 0
        #expect(queue.next(now: at(2)) { dropped += 1 }.map(Array.init) == [2, 2])
        queue.removeFirst()
        #expect(take(queue, at: at(2)).first == 3)
        #expect(take(queue, at: at(2)).first == 5)
        #expect(take(queue, at: at(2)).first == nil)
        #expect(dropped == 0)
    }

    @Test func aBurstThatDrainsPassesWhole() {
        // 200 frames at once, drained at one per 0.2 ms: the last waits 40 ms, but the queue
        // is gone within CoDel's 100 ms interval, so nothing is dropped.
        let queue = TimedFrameQueue(capacity: 256, slotSize: 16)
        for i in 0..<200 { #expect(push(queue, [UInt8(i % 256)], at: at(0))) }
        var dropped = 0
        for i in 0..<200 {
            let result = take(queue, at: Instant(nanoseconds: Int64(i) * 200_000))
            #expect(result.first == UInt8(i % 256))
            dropped += result.dropped
        }
        #expect(dropped == 0)
        #expect(queue.isEmpty)
    }

    @Test func aStandingQueueIsCutAtItsHeadAfterOneInterval() {
        // Two frames arrive per millisecond and one leaves: the sojourn time passes the 5 ms
        // target at about 10 ms and keeps rising. CoDel waits one interval (100 ms) above the
        // target, then drops at the head, more often the longer the queue stands.
        let queue = TimedFrameQueue(capacity: 256, slotSize: 16)
        var dropsBefore = 0, dropsAfter = 0, nextByte: UInt8 = 0
        var lastTaken: UInt8?
        var orderKept = true
        for ms in 0..<400 {
            for _ in 0..<2 {
                _ = push(queue, [nextByte], at: at(ms))
                nextByte &+= 1
            }
            let result = take(queue, at: at(ms))
            if ms < 105 { dropsBefore += result.dropped } else { dropsAfter += result.dropped }
            if let first = result.first, let last = lastTaken, first &- last == 0 || first &- last > 128 { orderKept = false }
            if let first = result.first { lastTaken = first }
        }
        #expect(dropsBefore == 0)
        // Drops at about 111, 211, 281, 339 and 389 ms: 100 ms / sqrt(count) apart.
        #expect(dropsAfter >= 4)
        #expect(orderKept)
    }

    @Test func emptyingTheQueueEndsTheDropping() {
        let queue = TimedFrameQueue(capacity: 256, slotSize: 16)
        var dropped = 0
        // A standing queue long enough for CoDel to drop ...
        for ms in 0..<300 {
            _ = push(queue, [1], at: at(ms))
            _ = push(queue, [1], at: at(ms))
            dropped += take(queue, at: at(ms)).dropped
        }
        #expect(dropped > 0)
        // ... then the link catches up and empties it.
        while take(queue, at: at(300)).first != nil {}
        #expect(queue.isEmpty)
        // A later frame that waits long but alone is never dropped (no queue stands behind it).
        #expect(push(queue, [9], at: at(1000)))
        #expect(take(queue, at: at(1200)) == (9, 0))
    }
}
