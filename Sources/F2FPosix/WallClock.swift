import Glibc

/// Calendar time, for what must outlive the process (an invitation's expiry); everything
/// the loop times uses `MonotonicClock`.
public enum WallClock {
    public static func secondsSinceEpoch() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec)
    }
}
