@testable import SwitchRuntime
import Testing

@Suite struct FrameQueueTests {
    func push(_ queue: FrameQueue, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { queue.push($0) }
    }

    @Test func keepsOrderAndBoundsAndWrapsAround() {
        let queue = FrameQueue(capacity: 3, slotSize: 16)
        #expect(push(queue, [1]))
        #expect(push(queue, [2, 2]))
        #expect(push(queue, [3, 3, 3]))
        #expect(!push(queue, [4]))  // tail drop when full
        #expect(queue.count == 3)
        #expect(Array(queue.frame(at: 0)) == [1])
        queue.removeFirst(2)
        #expect(Array(queue.frame(at: 0)) == [3, 3, 3])
        #expect(push(queue, [5]))
        #expect(push(queue, [6]))
        #expect(queue.count == 3)
        #expect((0..<3).map { Array(queue.frame(at: $0)) } == [[3, 3, 3], [5], [6]])
        queue.removeAll()
        #expect(queue.isEmpty)
    }
}
