import F2FBase

/// Capped exponential backoff with jitter for redialling a peer: 0.1 s, 0.2 s, 0.4 s … 5 s,
/// each delay jittered by ±20 % so that a mesh restarting at once does not redial in step.
public struct ReconnectBackoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    public private(set) var attempts = 0
    private var generator: SeededGenerator

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), seed: UInt64) {
        self.initial = initial
        self.maximum = maximum
        generator = SeededGenerator(seed: seed)
    }

    /// The delay before the next attempt.
    public mutating func nextDelay() -> Duration {
        let exponent = min(attempts, 62)
        attempts += 1
        // Double until the cap; never shift past it (a large initial delay would overflow).
        var base = min(initial.nanoseconds, maximum.nanoseconds)
        for _ in 0..<exponent where base < maximum.nanoseconds {
            base = min(base * 2, maximum.nanoseconds)
        }
        let jitter = Double.random(in: 0.8...1.2, using: &generator)
        return .nanoseconds(min(Int64(Double(base) * jitter), maximum.nanoseconds))
    }

    /// A link came up: the next failure starts from the initial delay again.
    public mutating func reset() {
        attempts = 0
    }
}
