import F2FBase
import F2FCore
import Testing

@Suite struct EgressQueueTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    @Test func aQueueThatDrainsIsNeverDropped() {
        var queue = EgressQueue<Int>()
        var sent = 0
        for now in Int64(0)..<10_000 {
            #expect(queue.enqueue(Int(now), lane: .bulk, now: Self.at(now)) == true)
            while let _ = queue.dequeue(now: Self.at(now), discard: { _ in Issue.record("dropped") }) { sent += 1 }
        }
        #expect(sent == 10_000)
    }

    @Test func aBurstPassesWithoutDrops() {
        var queue = EgressQueue<Int>()
        for index in 0..<80 { #expect(queue.enqueue(index, lane: .bulk, now: Self.at(0)) == true) }
        var sent: [Int] = []
        for now in Int64(0)..<200 {
            if let element = queue.dequeue(now: Self.at(now), discard: { _ in Issue.record("dropped") }) { sent.append(element) }
        }
        #expect(sent == Array(0..<80))
        #expect(queue.counters.codelDrops == 0)
    }

    @Test func aStandingQueueIsDrainedAtTheCoDelRate() {
        var queue = EgressQueue<Int>(bulkCapacity: 1_000)
        for index in 0..<600 { #expect(queue.enqueue(index, lane: .bulk, now: Self.at(0)) == true) }
        var dropTimes: [Int64] = []
        for now in Int64(0)..<600 {
            _ = queue.dequeue(now: Self.at(now)) { _ in dropTimes.append(now) }
        }
        // Above target from 5 ms on; after an interval (100 ms) the first drop, then at
        // intervals of 100/√count ms: 205, 205+70.7, +57.7, +50, …
        #expect(Array(dropTimes.prefix(5)) == [105, 205, 276, 334, 384])
        #expect(queue.codel.isDropping || queue.isEmpty)
        #expect(queue.counters.codelDrops == dropTimes.count)
    }

    @Test func droppingStopsWhenTheSojournFallsBelowTarget() {
        var queue = EgressQueue<Int>()
        for index in 0..<200 { _ = queue.enqueue(index, lane: .bulk, now: Self.at(0)) }
        for now in Int64(0)..<150 { _ = queue.dequeue(now: Self.at(now), discard: { _ in }) }
        #expect(queue.codel.isDropping)
        // The backlog is flushed by a fast link; fresh packets then wait less than the target.
        while queue.dequeue(now: Self.at(150), discard: { _ in }) != nil {}
        let dropsBefore = queue.counters.codelDrops
        for now in Int64(151)..<1_000 {
            _ = queue.enqueue(Int(now), lane: .bulk, now: Self.at(now))
            _ = queue.dequeue(now: Self.at(now + 1), discard: { _ in })
        }
        #expect(!queue.codel.isDropping)
        #expect(queue.counters.codelDrops == dropsBefore)
    }

    @Test func controlPacketsGoFirstAndAreNeverDropped() {
        var queue = EgressQueue<String>(controlCapacity: 4, bulkCapacity: 500)
        for index in 0..<300 { _ = queue.enqueue("frame \(index)", lane: .bulk, now: Self.at(0)) }
        #expect(queue.enqueue("bpdu", lane: .control, now: Self.at(0)) == true)
        #expect(queue.dequeue(now: Self.at(0), discard: { _ in }) == "bpdu")
        // Long after the bulk lane went over target, a keepalive still leaves at once, untouched.
        _ = queue.enqueue("keepalive", lane: .control, now: Self.at(0))
        #expect(queue.dequeue(now: Self.at(250), discard: { _ in }) == "keepalive")
        #expect(queue.counters.codelDrops == 0)
    }

    @Test func fullLanesTailDrop() {
        var queue = EgressQueue<Int>(controlCapacity: 2, bulkCapacity: 3)
        #expect((0..<4).map { queue.enqueue($0, lane: .bulk, now: Self.at(0)) } == [true, true, true, false])
        #expect((0..<3).map { queue.enqueue($0, lane: .control, now: Self.at(0)) } == [true, true, false])
        #expect(queue.counters.tailDrops == 2)
        #expect(queue.count == 5)
        // The ring wraps around.
        for expected in [0, 1, 0, 1, 2] { #expect(queue.dequeue(now: Self.at(0), discard: { _ in }) == expected) }
        #expect(queue.enqueue(7, lane: .bulk, now: Self.at(0)) == true)
        #expect(queue.enqueue(8, lane: .bulk, now: Self.at(0)) == true)
        #expect(queue.dequeue(now: Self.at(0), discard: { _ in }) == 7)
    }
}
