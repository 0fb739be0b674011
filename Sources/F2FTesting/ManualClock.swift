import F2FBase

/// Virtual time for pure code that takes `now`: it moves only when a test says so.
///
/// ```swift
/// let clock = ManualClock()
/// let node = F2FNode(nodeID: 1, name: "a", logger: logger, now: clock.reader)
/// clock.advance(by: .milliseconds(500))
/// node.tick()
/// ```
public final class ManualClock {
    public private(set) var now: Instant

    /// Starts away from zero so that "never" (`.zero`) and "now" are distinguishable.
    public init(now: Instant = Instant(nanoseconds: 1_000_000_000)) {
        self.now = now
    }

    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "time does not run backwards")
        now = now + duration
    }

    /// A `() -> Instant` reading this clock, for `F2FNode(now:)`.
    public var reader: () -> Instant {
        { self.now }
    }
}
