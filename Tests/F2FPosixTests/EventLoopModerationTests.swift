import F2FBase
import F2FCore
import F2FPosix
import Testing

/// Wake-up moderation: the loop naps after a wake-up that reported dense input, and only then.
@Suite struct EventLoopModerationTests {
    /// Long enough that an unmoderated wake-up never takes it, even on a loaded machine.
    private let interval: Duration = .milliseconds(300)

    @Test func napsAfterDenseInputOnly() throws {
        let loop = try EpollEventLoop()
        loop.moderationInterval = interval

        loop.schedule(after: .zero) { loop.noteDenseInput() }
        #expect(elapsed { loop.runOnce(maximumWait: .seconds(5)) } >= interval)

        // The report counts for one wake-up; light work afterwards is not held back.
        loop.schedule(after: .zero) {}
        #expect(elapsed { loop.runOnce(maximumWait: .seconds(5)) } < interval)
    }

    @Test func noNapWhenModerationIsOff() throws {
        let loop = try EpollEventLoop()
        loop.schedule(after: .zero) { loop.noteDenseInput() }
        #expect(elapsed { loop.runOnce(maximumWait: .seconds(5)) } < interval)
    }

    private func elapsed(_ body: () -> Void) -> Duration {
        let start = MonotonicClock.now()
        body()
        return MonotonicClock.now() - start
    }
}
