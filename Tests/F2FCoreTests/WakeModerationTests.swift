import F2FCore
import Testing

/// Wake-up moderation's decision: nap after a wake-up that reported dense input, and only then.
@Suite struct WakeModerationTests {
    @Test func napsOnceAfterDenseInput() {
        var moderation = WakeModeration(interval: .microseconds(50))
        moderation.noteDenseInput()
        moderation.noteDenseInput()

        #expect(moderation.napAfterWakeup() == .microseconds(50))
        // The report counts for one wake-up; light work afterwards is not held back.
        #expect(moderation.napAfterWakeup() == nil)
    }

    @Test func neverNapsWithoutDenseInput() {
        var moderation = WakeModeration(interval: .microseconds(50))
        #expect(moderation.napAfterWakeup() == nil)
    }

    @Test func neverNapsWhenOffButForgetsTheNote() {
        var moderation = WakeModeration()
        moderation.noteDenseInput()
        #expect(moderation.napAfterWakeup() == nil)

        // Turned on later, an old report does not cause a nap.
        moderation.interval = .microseconds(50)
        #expect(moderation.napAfterWakeup() == nil)
    }
}
