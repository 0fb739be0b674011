import F2FCore
import Testing

@Suite struct PeerQueuesTests {
    @Test func eachPeerGetsItsOwnInOrderAndThenNothing() {
        var queues = PeerQueues<Int>()
        #expect(queues.next(for: 1) == nil)
        queues.append(10, for: 1)
        queues.append(20, for: 2)
        queues.append(11, for: 1)
        #expect(queues.hasWaiting(for: 1) && queues.hasWaiting(for: 2) && !queues.hasWaiting(for: 3))
        #expect(queues.next(for: 1) == 10)
        #expect(queues.next(for: 1) == 11)
        #expect(queues.next(for: 1) == nil)
        #expect(!queues.hasWaiting(for: 1), "an emptied queue leaves no entry")
        #expect(queues.next(for: 2) == 20)
        #expect(!queues.hasWaiting(for: 2))
    }

    @Test func atItsLimitAQueueDropsItsOldest() {
        var queues = PeerQueues<Int>(limitPerPeer: 2)
        for value in 1...5 { queues.append(value, for: 7) }
        #expect(queues.next(for: 7) == 4)
        #expect(queues.next(for: 7) == 5)
        #expect(queues.next(for: 7) == nil)
    }

    @Test func removingAPeersQueueLeavesTheOthers() {
        var queues = PeerQueues<Int>()
        queues.append(1, for: 1)
        queues.append(2, for: 2)
        queues.removeAll(for: 1)
        #expect(queues.next(for: 1) == nil)
        #expect(queues.next(for: 2) == 2)
    }
}
