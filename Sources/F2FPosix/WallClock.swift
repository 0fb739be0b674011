import Glibc

/// The calendar time (CLOCK_REALTIME), for what must outlive the process or is shown to other
/// programs: an invitation's expiry, a metric's process start time, a capture's packet
/// timestamps. Never for the switch's own timers, which run on `MonotonicClock` (a clock step
/// must not fire or hold them).
public enum WallClock {
    /// Seconds and nanoseconds since the Unix epoch.
    public static func now() -> (seconds: Int64, nanoseconds: Int64) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int64(spec.tv_sec), Int64(spec.tv_nsec))
    }

    public static func secondsSinceEpoch() -> Int64 {
        now().seconds
    }
}
