import F2FBase
import F2FCore
import F2FPosix
import Glibc
import Synchronization
import Testing

@testable import F2FPortMapping

/// miniupnpc blocks for seconds on a silent router; the worker must keep that off the loop.
@Suite struct BlockingWorkerTests {
    final class Ticks: Sendable {
        let count = Atomic<Int>(0)
    }

    /// The job waits for the loop's timer to fire five times: it can finish only if the loop
    /// keeps running while the job blocks. The result then arrives on the loop's thread.
    @Test func aBlockingJobLeavesTheLoopRunningAndItsResultComesBackOnTheLoop() throws {
        let loop = try EpollEventLoop()
        defer { loop.releaseAll() }
        let ticks = Ticks()
        loop.scheduleRepeating(every: .milliseconds(5)) { ticks.count.add(1, ordering: .relaxed) }
        let worker = try BlockingWorker<Int>(loop: loop)
        let loopThread = pthread_self()
        var delivered: (value: Int, onLoopThread: Bool, ticksSeen: Int)?
        try worker.run({
            while ticks.count.load(ordering: .relaxed) < 5 { usleep(1000) }
            return 42
        }) { value in
            delivered = (value, pthread_equal(pthread_self(), loopThread) != 0, ticks.count.load(ordering: .relaxed))
        }
        #expect(worker.isBusy)
        let deadline = MonotonicClock.now() + .seconds(20)
        while delivered == nil, MonotonicClock.now() < deadline { loop.runOnce(maximumWait: .milliseconds(50)) }
        let result = try #require(delivered)
        #expect(result.value == 42)
        #expect(result.onLoopThread)
        #expect(result.ticksSeen >= 5)
        #expect(!worker.isBusy)
        worker.close()
    }

    /// At exit the loop no longer runs: `finish` waits for the job and delivers its result.
    @Test func finishWaitsForTheRunningJobAtExit() throws {
        let loop = try EpollEventLoop()
        defer { loop.releaseAll() }
        let worker = try BlockingWorker<String>(loop: loop)
        var delivered: String?
        try worker.run({
            usleep(50_000)
            return "mapped"
        }) { delivered = $0 }
        #expect(worker.finish(timeout: .seconds(10)))
        #expect(delivered == "mapped")
        // A job that outlives the wait is reported, not waited for.
        try worker.run({
            usleep(2_000_000)
            return "late"
        }) { delivered = $0 }
        #expect(!worker.finish(timeout: .milliseconds(10)))
        #expect(delivered == "mapped")
        worker.close()
    }
}
