import F2FBase
import F2FCore
import Testing

@Suite struct WarningThrottleTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    @Test func aFloodLogsTheFirstLinesOfEachWindowAndCountsTheRest() {
        var throttle = WarningThrottle(linesPerWindow: 5, window: .seconds(10))
        var logged = 0
        // 312 000 refusals in 12 s, the figure: 26 per millisecond.
        for millisecond in 0..<12_000 {
            for _ in 0..<26 where throttle.admit("pending", now: Self.at(Int64(millisecond))) != .suppress { logged += 1 }
        }
        #expect(logged == 10, "5 in the first window, 5 in the second")
        #expect(throttle.unreportedCount == 2_000 * 26 - 5, "the second window's suppressed lines, not yet reported")
    }

    @Test func theFirstLineOfANewWindowCarriesTheCountOfTheOldOne() {
        var throttle = WarningThrottle(linesPerWindow: 2, window: .seconds(10))
        var verdicts: [WarningThrottle.Verdict] = []
        for millisecond: Int64 in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9_999, 10_000, 10_001] {
            verdicts.append(throttle.admit("k", now: Self.at(millisecond)))
        }
        let expected: [WarningThrottle.Verdict] = [.log(suppressedBefore: 0), .log(suppressedBefore: 0)]
            + Array(repeating: .suppress, count: 8) + [.log(suppressedBefore: 8), .log(suppressedBefore: 0)]
        #expect(verdicts == expected)
    }

    @Test func expiringReportsEachKindOnceAndForgetsQuietKinds() {
        var throttle = WarningThrottle(linesPerWindow: 1, window: .seconds(10))
        for millisecond: Int64 in [0, 1, 2] { _ = throttle.admit("a", now: Self.at(millisecond)) }
        _ = throttle.admit("b", now: Self.at(0))
        let early = throttle.expire(now: Self.at(9_999))
        #expect(early.isEmpty, "windows still open")
        let reports = throttle.expire(now: Self.at(10_000))
        #expect(reports.map(\.kind) == ["a"] && reports.map(\.suppressed) == [2])
        let again = throttle.expire(now: Self.at(30_000))
        #expect(again.isEmpty, "reported once")
        let next = throttle.admit("a", now: Self.at(30_001))
        #expect(next == .log(suppressedBefore: 0), "nothing left to report")
    }

    @Test func kindsHaveSeparateBudgets() {
        var throttle = WarningThrottle(linesPerWindow: 1, window: .seconds(10))
        let verdicts = [throttle.admit("a", now: Self.at(0)), throttle.admit("a", now: Self.at(0)), throttle.admit("b", now: Self.at(0))]
        #expect(verdicts == [.log(suppressedBefore: 0), .suppress, .log(suppressedBefore: 0)])
    }

    @Test func theLoggerWritesABoundedNumberOfLinesAndTheSuppressedCount() {
        let recorder = LogRecorder()
        var now = Self.at(0)
        let logger = ThrottledLogger(logger: recorder.logger, throttle: WarningThrottle(linesPerWindow: 3, window: .seconds(10))) { now }
        for millisecond in 0..<1000 {
            now = Self.at(Int64(millisecond))
            logger.warning("flood", "refusing connection")
            logger.reportSuppressed()
        }
        #expect(recorder.records.count == 3)
        now = Self.at(10_000)
        logger.reportSuppressed()
        let records = recorder.records
        #expect(records.count == 4)
        #expect(records.last?.message == "suppressed 997 similar warnings in the last 10 s", "\(records.map(\.message))")
        #expect(records.last?.metadata["kind"] == "flood")
    }
}
