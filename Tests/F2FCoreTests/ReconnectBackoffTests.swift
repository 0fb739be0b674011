import F2FBase
import F2FCore
import Testing

@Suite struct ReconnectBackoffTests {
    /// The un-jittered delay of attempt `index`: 0.1 s doubling, capped at 5 s.
    static func base(_ index: Int) -> Duration {
        min(.milliseconds(100) * (1 << min(index, 20)), .seconds(5))
    }

    @Test(arguments: [UInt64(0), 1, 42, 0xDEAD_BEEF])
    func delaysDoubleFromATenthOfASecondUpToFiveSeconds(seed: UInt64) {
        var backoff = ReconnectBackoff(seed: seed)
        for index in 0..<40 {
            let delay = backoff.nextDelay()
            let base = Self.base(index)
            #expect(delay >= base * 0.8, "attempt \(index)")
            #expect(delay <= min(base * 1.2, .seconds(5)), "attempt \(index)")
            #expect(backoff.attempts == index + 1)
        }
    }

    @Test func theBasesAreTheDocumentedSequence() {
        let bases = (0..<8).map(Self.base)
        #expect(bases == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1_600), .milliseconds(3_200), .seconds(5), .seconds(5)])
    }

    @Test func theSameSeedGivesTheSameDelays() {
        var first = ReconnectBackoff(seed: 7)
        var second = ReconnectBackoff(seed: 7)
        var other = ReconnectBackoff(seed: 8)
        let a = (0..<20).map { _ in first.nextDelay() }
        let b = (0..<20).map { _ in second.nextDelay() }
        let c = (0..<20).map { _ in other.nextDelay() }
        #expect(a == b)
        #expect(a != c)
    }

    @Test func resetStartsOverFromTheInitialDelay() {
        var backoff = ReconnectBackoff(seed: 3)
        for _ in 0..<6 { _ = backoff.nextDelay() }
        #expect(backoff.nextDelay() >= .seconds(4))
        backoff.reset()
        #expect(backoff.attempts == 0)
        let delay = backoff.nextDelay()
        #expect(delay >= .milliseconds(80))
        #expect(delay <= .milliseconds(120))
        #expect(backoff.nextDelay() >= .milliseconds(160))
    }

    @Test func theJitterSpreadsDelaysAcrossTheWholeBand() {
        var backoff = ReconnectBackoff(seed: 99)
        var firsts: [Duration] = []
        for _ in 0..<500 {
            backoff.reset()
            firsts.append(backoff.nextDelay())
        }
        let low = firsts.min() ?? .zero
        let high = firsts.max() ?? .zero
        #expect(low >= .milliseconds(80))
        #expect(high <= .milliseconds(120))
        // Not one fixed value: both ends of the ±20 % band are reached.
        #expect(low < .milliseconds(85))
        #expect(high > .milliseconds(115))
        #expect(Set(firsts).count > 400)
    }

    @Test func customBoundsAreHonoured() {
        var backoff = ReconnectBackoff(initial: .milliseconds(10), maximum: .milliseconds(50), seed: 1)
        let delays = (0..<10).map { _ in backoff.nextDelay() }
        #expect(delays[0] >= .milliseconds(8) && delays[0] <= .milliseconds(12))
        #expect(delays.allSatisfy { $0 <= .milliseconds(50) })
        #expect(delays.suffix(5).allSatisfy { $0 >= .milliseconds(40) })
    }

    /// Regression: `initial << attempts` overflowed Int64 for initial delays of 2^33 ns (8.6 s)
    /// or more once the exponent reached 30, giving negative delays.
    @Test
    func largeInitialDelaysNeverOverflow() {
        var backoff = ReconnectBackoff(initial: .seconds(10), maximum: .seconds(60), seed: 1)
        for index in 0..<40 {
            let delay = backoff.nextDelay()
            #expect(delay > .zero, "attempt \(index)")
            #expect(delay <= .seconds(60), "attempt \(index)")
        }
    }
}
