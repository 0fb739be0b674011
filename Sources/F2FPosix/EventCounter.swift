import CF2FSystem
import Glibc

/// An eventfd: any thread signals it, and the thread that watches it (through epoll, or
/// `waitForSignal` where no loop runs) is woken and drains it. Non-blocking; closed with the
/// last reference.
public final class EventCounter: Sendable {
    public let descriptor: Int32

    public init() throws(SystemError) {
        descriptor = try checkedSyscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }

    deinit {
        close(descriptor)
    }

    /// Wakes the watcher. Safe from any thread.
    public func signal() {
        var one: UInt64 = 1
        _ = write(descriptor, &one, 8)
    }

    /// Clears the signals so far, so that epoll reports the next one afresh.
    public func drain() {
        var counter: UInt64 = 0
        _ = read(descriptor, &counter, 8)
    }

    /// Waits up to `timeout` for a signal (without draining it); false when none came.
    public func waitForSignal(timeout: Duration) -> Bool {
        Readiness.waitUntilReadable(descriptor, timeout: timeout)
    }
}

/// A bounded wait on one descriptor, for the few places that must wait without the loop (at
/// exit, when the loop no longer runs).
public enum Readiness {
    /// True when `descriptor` turned readable within `timeout`.
    public static func waitUntilReadable(_ descriptor: Int32, timeout: Duration) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: max(0, timeout.nanoseconds / 1_000_000))
        return poll(&entry, 1, milliseconds) == 1
    }
}
