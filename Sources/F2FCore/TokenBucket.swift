import F2FBase

/// A rate with a burst: `take` succeeds while tokens remain, and tokens come back at `rate`
/// per second up to `burst`. Bounds work a stranger can make us do (a Noise responder's
/// Diffie-Hellman operations) without a timer.
public struct TokenBucket: Sendable {
    public let ratePerSecond: Double
    public let burst: Double
    private var tokens: Double
    private var updated: Instant

    public init(ratePerSecond: Double, burst: Int, now: Instant) {
        precondition(ratePerSecond > 0 && burst >= 1)
        self.ratePerSecond = ratePerSecond
        self.burst = Double(burst)
        tokens = Double(burst)
        updated = now
    }

    public mutating func take(now: Instant) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// True once the bucket has refilled: a stranger's bucket can then be forgotten, as a
    /// new one would be the same.
    public func isFull(now: Instant) -> Bool {
        var copy = self
        copy.refill(now: now)
        return copy.tokens >= burst
    }

    private mutating func refill(now: Instant) {
        guard now > updated else { return }
        tokens = min(burst, tokens + Double((now - updated).nanoseconds) * ratePerSecond / 1e9)
        updated = now
    }
}
