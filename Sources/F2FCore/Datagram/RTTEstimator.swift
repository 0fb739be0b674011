import F2FBase

/// Smoothed round-trip time and its variation as RFC 6298 §2 computes them for TCP's
/// retransmission timer, in nanoseconds: SRTT and RTTVAR with gains 1/8 and 1/4, and
/// RTO = SRTT + max(G, 4·RTTVAR), clamped to `[minimum, maximum]`.
public struct RTTEstimator: Sendable {
    public private(set) var smoothed: Duration?
    public private(set) var variation: Duration = .zero
    public let granularity: Duration
    public let minimum: Duration
    public let maximum: Duration
    /// Before the first sample (RFC 6298 §2.1 says 1 s).
    public let initial: Duration

    public init(
        granularity: Duration = .milliseconds(1), minimum: Duration = .milliseconds(20), maximum: Duration = .seconds(10),
        initial: Duration = .seconds(1)
    ) {
        self.granularity = granularity
        self.minimum = minimum
        self.maximum = maximum
        self.initial = initial
    }

    public mutating func add(sample: Duration) {
        let sample = max(sample, .zero)
        guard let smoothed else {
            smoothed = sample  // §2.2
            variation = sample / 2
            return
        }
        // §2.3: RTTVAR first, from the old SRTT.
        let deviation = smoothed > sample ? smoothed - sample : sample - smoothed
        variation = (variation * 3 + deviation) / 4
        self.smoothed = (smoothed * 7 + sample) / 8
    }

    public var retransmissionTimeout: Duration {
        guard let smoothed else { return initial }
        return min(max(smoothed + max(granularity, variation * 4), minimum), maximum)
    }
}
