/// Wake-up moderation's decision, apart from the loop's syscalls: when a handler reports dense
/// input (its read found many items waiting and still emptied its source), the loop naps for
/// `interval` before its next wait, as a NIC moderates interrupts, so dense traffic costs one
/// wake-up per sizeable batch instead of one per handful of frames. Light traffic (a ping)
/// never reports it and never waits; a handler that is behind (a full read) should not report
/// it either, there is no point.
public struct WakeModeration: Sendable {
    /// How long to nap after dense input; zero turns moderation off.
    public var interval: Duration
    private var hasDenseInput = false

    public init(interval: Duration = .zero) {
        self.interval = interval
    }

    @inline(__always)
    public mutating func noteDenseInput() {
        hasDenseInput = true
    }

    /// Called once at the end of each wake-up: how long to nap before the next wait, or nil.
    /// Forgets the note, so one dense read buys one nap.
    public mutating func napAfterWakeup() -> Duration? {
        guard hasDenseInput else { return nil }
        hasDenseInput = false
        return interval > .zero ? interval : nil
    }
}
