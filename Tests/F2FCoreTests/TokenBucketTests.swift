import F2FBase
import F2FCore
import Testing

@Suite struct TokenBucketTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    @Test func theBurstGoesAtOnceThenTheRateHolds() {
        var bucket = TokenBucket(ratePerSecond: 5, burst: 10, now: Self.at(0))
        let burst = (0..<50).filter { _ in bucket.take(now: Self.at(0)) }.count
        #expect(burst == 10)
        // A stranger trying every millisecond for ten seconds gets 5 a second.
        var granted = 0
        for millisecond in 1...10_000 where bucket.take(now: Self.at(Int64(millisecond))) { granted += 1 }
        #expect(granted == 50)
    }

    @Test func tokensDoNotPileUpBeyondTheBurst() {
        var bucket = TokenBucket(ratePerSecond: 100, burst: 3, now: Self.at(0))
        #expect(bucket.isFull(now: Self.at(0)))
        _ = bucket.take(now: Self.at(0))
        #expect(!bucket.isFull(now: Self.at(0)))
        #expect(bucket.isFull(now: Self.at(3600_000)))
        let afterAnHour = (0..<10).filter { _ in bucket.take(now: Self.at(3600_000)) }.count
        #expect(afterAnHour == 3)
    }

    @Test func timeGoingBackwardsGrantsNothing() {
        var bucket = TokenBucket(ratePerSecond: 1, burst: 1, now: Self.at(5_000))
        let grants = [Int64(5_000), 1_000, 5_500, 6_000].map { bucket.take(now: Self.at($0)) }
        #expect(grants == [true, false, false, true])
    }
}
