import F2FBase
@testable import SwitchRuntime
import Testing

/// The friend link's fair queue on virtual time: a sparse flow (a ping) passes a bulk flow's
/// backlog, flows share by deficit round robin, a bulk flow's standing queue is cut at its
/// head by its own CoDel while the other flows lose nothing, a full queue drops from the
/// longest flow, and each flow keeps its order and bytes.
@Suite struct FairFrameQueueTests {
    func at(_ milliseconds: Int) -> Instant { Instant(nanoseconds: Int64(milliseconds) * 1_000_000) }
    func atMicroseconds(_ microseconds: Int) -> Instant { Instant(nanoseconds: Int64(microseconds) * 1_000) }

    /// A frame of `length` bytes whose first byte is `tag`.
    func push(_ queue: FairFrameQueue, tag: UInt8, flow: UInt32, length: Int = 1, at time: Instant) -> Bool {
        var bytes = [UInt8](repeating: 0, count: length)
        bytes[0] = tag
        return bytes.withUnsafeBytes { queue.push($0, flowHash: flow, now: time) }
    }

    /// Takes the next frame at `time`: its tag and length, and how many CoDel dropped first.
    func take(_ queue: FairFrameQueue, at time: Instant) -> (tag: UInt8?, length: Int, dropped: Int) {
        var dropped = 0
        let frame = queue.next(now: time) { dropped += 1 }
        let result = (frame?.first, frame?.count ?? 0, dropped)
        if frame != nil { queue.removeFirst() }
        return result
    }

    @Test func aPingStagedBehindABulkBacklogLeavesNext() {
        // 1000 bulk frames already waiting (more than the 256 slots: the queue keeps the newest
        // of them), one being sent; a ping staged now is the very next frame out.
        let queue = FairFrameQueue(capacity: 256, slotSize: 1514)
        for i in 0..<1000 { _ = push(queue, tag: UInt8(i % 200), flow: 7, length: 1514, at: at(0)) }
        #expect(queue.count == 256)
        #expect(take(queue, at: at(1)).length == 1514)
        #expect(push(queue, tag: 255, flow: 9, length: 98, at: at(1)))
        #expect(take(queue, at: at(1)).tag == 255)
        // The bulk flow goes on where it was.
        #expect(take(queue, at: at(1)).length == 1514)
    }

    @Test func aPingWaitsAtMostOneQuantumOfBulkWhileBothAreBusy() {
        // A bulk flow keeps 100 frames queued while another flow sends a ping now and then:
        // each ping leaves within one bulk frame of being staged, never behind the backlog.
        let queue = FairFrameQueue(capacity: 256, slotSize: 1514)
        var bulkTag: UInt8 = 0
        for _ in 0..<100 {
            _ = push(queue, tag: bulkTag, flow: 1, length: 1514, at: at(0))
            bulkTag = bulkTag == 200 ? 0 : bulkTag + 1
        }
        var worstBulkAhead = 0
        for round in 0..<50 {
            let now = atMicroseconds(round * 1000)
            #expect(push(queue, tag: 250, flow: 2, length: 98, at: now))
            var bulkAhead = 0
            while true {
                let frame = take(queue, at: now)
                if frame.tag == 250 { break }
                bulkAhead += 1
                _ = push(queue, tag: bulkTag, flow: 1, length: 1514, at: now)  // the backlog stays
                bulkTag = bulkTag == 200 ? 0 : bulkTag + 1
                #expect(bulkAhead < 10)
                if bulkAhead >= 10 { break }
            }
            worstBulkAhead = max(worstBulkAhead, bulkAhead)
            // Bulk frames go between the pings.
            for _ in 0..<5 {
                #expect(take(queue, at: now).length == 1514)
                _ = push(queue, tag: bulkTag, flow: 1, length: 1514, at: now)
                bulkTag = bulkTag == 200 ? 0 : bulkTag + 1
            }
        }
        #expect(worstBulkAhead <= 1)
    }

    @Test func twoBusyFlowsShareByBytes() {
        // Flow 1 sends 1514-byte frames, flow 2 sends 500-byte ones; both always backlogged.
        // Deficit round robin gives each about the same bytes, not the same frames.
        let queue = FairFrameQueue(capacity: 512, slotSize: 1514)
        for _ in 0..<200 {
            _ = push(queue, tag: 1, flow: 1, length: 1514, at: at(0))
            _ = push(queue, tag: 2, flow: 2, length: 500, at: at(0))
        }
        var bytes: [UInt8: Int] = [1: 0, 2: 0]
        for _ in 0..<200 {
            let frame = take(queue, at: at(0))
            if let tag = frame.tag { bytes[tag, default: 0] += frame.length }
        }
        let ratio = Double(bytes[1]!) / Double(bytes[2]!)
        #expect(ratio > 0.8 && ratio < 1.25, "bytes per flow \(bytes)")
    }

    @Test func eachFlowKeepsItsOrderAndBytes() {
        let queue = FairFrameQueue(capacity: 16, slotSize: 16, flowCount: 4)
        for i in 0..<6 {
            _ = [UInt8(i), 0xA0, UInt8(i)].withUnsafeBytes { queue.push($0, flowHash: 1, now: at(0)) }
            _ = [UInt8(100 + i)].withUnsafeBytes { queue.push($0, flowHash: 2, now: at(0)) }
        }
        var flow1: [[UInt8]] = [], flow2: [UInt8] = []
        while let frame = queue.next(now: at(1), dropped: {}) {
            if frame.count == 3 { flow1.append(Array(frame)) } else { flow2.append(frame[0]) }
            queue.removeFirst()
        }
        #expect(flow1 == (0..<6).map { [UInt8($0), 0xA0, UInt8($0)] })
        #expect(flow2 == (100..<106).map { UInt8($0) })
        #expect(queue.isEmpty)
    }

    @Test func aFullQueueDropsFromTheLongestFlowNotTheNewFrame() {
        let queue = FairFrameQueue(capacity: 8, slotSize: 1514, flowCount: 8)
        for i in 0..<7 { #expect(push(queue, tag: UInt8(i), flow: 1, length: 1000, at: at(0))) }
        #expect(push(queue, tag: 50, flow: 2, length: 100, at: at(0)))
        // Full: a new sparse frame takes the bulk flow's oldest slot.
        #expect(!push(queue, tag: 60, flow: 3, length: 100, at: at(0)))
        #expect(queue.count == 8)
        var tags: [UInt8] = []
        while let tag = take(queue, at: at(0)).tag { tags.append(tag) }
        #expect(tags.filter { $0 < 7 } == [1, 2, 3, 4, 5, 6])
        #expect(tags.contains(50) && tags.contains(60))
        // The two sparse frames leave before most of the bulk: after the bulk flow's first
        // quantum (two 1000-byte frames), as new flows queued behind it.
        #expect(tags == [1, 2, 50, 60, 3, 4, 5, 6])
    }

    @Test func aStandingBulkQueueIsCutWhileASparseFlowLosesNothing() {
        // Bulk: two frames arrive per millisecond and one leaves, so its sojourn passes CoDel's
        // 5 ms target and keeps rising; after one 100 ms interval CoDel drops at its head.
        // A ping every 10 ms beside it is never dropped and never waits.
        let queue = FairFrameQueue(capacity: 256, slotSize: 1514)
        var bulkDropsBefore = 0, bulkDropsAfter = 0, pingsOut = 0, pingsIn = 0
        var lastBulk: UInt8?
        var bulkOrderKept = true
        var bulkTag: UInt8 = 0
        for ms in 0..<400 {
            for _ in 0..<2 {
                _ = push(queue, tag: bulkTag, flow: 1, length: 1514, at: at(ms))
                bulkTag = bulkTag == 200 ? 0 : bulkTag + 1
            }
            if ms % 10 == 0 {
                _ = push(queue, tag: 250, flow: 2, length: 98, at: at(ms))
                pingsIn += 1
            }
            // One bulk frame's worth of sending per millisecond, pings on top.
            var sentBulk = false
            while !sentBulk {
                let frame = take(queue, at: at(ms))
                if ms < 105 { bulkDropsBefore += frame.dropped } else { bulkDropsAfter += frame.dropped }
                guard let tag = frame.tag else { break }
                if tag == 250 {
                    pingsOut += 1
                    continue
                }
                // Tags count 0...200 round; drops leave gaps but never send one back.
                if let last = lastBulk {
                    let step = (Int(tag) - Int(last) + 201) % 201
                    if step == 0 || step > 150 { bulkOrderKept = false }
                }
                lastBulk = tag
                sentBulk = true
            }
        }
        #expect(bulkDropsBefore == 0)
        #expect(bulkDropsAfter >= 4)
        #expect(pingsOut == pingsIn)
        #expect(bulkOrderKept)
    }

    @Test func aBurstThatDrainsPassesWhole() {
        // 200 frames at once, drained at one per 0.2 ms: the last waits 40 ms, but the queue
        // is gone within CoDel's 100 ms interval, so nothing is dropped.
        let queue = FairFrameQueue(capacity: 256, slotSize: 16)
        for i in 0..<200 { #expect(push(queue, tag: UInt8(i % 256), flow: 3, at: at(0))) }
        var dropped = 0
        for i in 0..<200 {
            let result = take(queue, at: atMicroseconds(i * 200))
            #expect(result.tag == UInt8(i % 256))
            dropped += result.dropped
        }
        #expect(dropped == 0)
        #expect(queue.isEmpty)
    }

    @Test func removeAllEmptiesEveryFlow() {
        let queue = FairFrameQueue(capacity: 8, slotSize: 16, flowCount: 4)
        for i in 0..<8 { _ = push(queue, tag: UInt8(i), flow: UInt32(i), at: at(0)) }
        queue.removeAll()
        #expect(queue.isEmpty)
        #expect(take(queue, at: at(0)).tag == nil)
        // Every slot is free again.
        for i in 0..<8 { #expect(push(queue, tag: UInt8(i), flow: 0, at: at(1))) }
        #expect(queue.count == 8)
    }
}
