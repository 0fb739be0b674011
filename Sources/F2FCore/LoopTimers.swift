import F2FBase

/// The timers of a loop as polled deadlines, apart from any clock or wait: both loops
/// (`EpollEventLoop` and the test's `ManualEventLoop`) keep theirs here, so the scheduling
/// rules are the same in tests and in production and are tested on plain instants.
///
/// Actions are handed out rather than called here: an action may schedule or cancel timers,
/// which mutates this value, so the loop calls it outside any access to it.
public struct LoopTimers {
    private struct Timer {
        var id: LoopTimerID
        var deadline: Instant
        var interval: Duration?
        var action: () -> Void
    }

    private var timers: [Timer] = []
    private var nextID = 1
    /// The nearest deadline in nanoseconds (`.max` with no timers): every wake-up asks for it,
    /// so it is kept up to date rather than searched for.
    public private(set) var earliestDeadline: Int64 = .max

    public init() {}

    public var count: Int { timers.count }

    /// A timer due at `deadline`, then every `interval` after it if one is given.
    public mutating func add(deadline: Instant, interval: Duration?, action: @escaping () -> Void) -> LoopTimerID {
        let id = LoopTimerID(rawValue: nextID)
        nextID += 1
        timers.append(Timer(id: id, deadline: deadline, interval: interval, action: action))
        earliestDeadline = min(earliestDeadline, deadline.nanoseconds)
        return id
    }

    public mutating func cancel(_ id: LoopTimerID) {
        timers.removeAll { $0.id == id }
        updateEarliestDeadline()
    }

    public mutating func removeAll() {
        timers.removeAll()
        earliestDeadline = .max
    }

    /// The timers due at `now`, earliest deadline first (ties in the order they were added).
    /// Each runs once per call even if a repeating one is late by several intervals.
    public func due(now: Instant) -> [LoopTimerID] {
        var ids: [LoopTimerID] = []
        due(now: now, into: &ids)
        return ids
    }

    /// `due(now:)` written into `ids`, whose storage is reused: a loop that keeps one array
    /// allocates nothing per wake-up (its timers fire about 300 times a second).
    public func due(now: Instant, into ids: inout [LoopTimerID]) {
        ids.removeAll(keepingCapacity: true)
        guard earliestDeadline <= now.nanoseconds else { return }
        for index in timers.indices where timers[index].deadline <= now {
            // Inserted after every earlier or equal deadline: ties keep their order. A loop has
            // a handful of timers, so the scans cost less than a sort's buffers.
            let deadline = timers[index].deadline
            var slot = ids.count
            while slot > 0, self.deadline(of: ids[slot - 1]) > deadline { slot -= 1 }
            ids.insert(timers[index].id, at: slot)
        }
    }

    private func deadline(of id: LoopTimerID) -> Instant {
        timers.first { $0.id == id }?.deadline ?? Instant(nanoseconds: .min)
    }

    /// Takes a due timer's action: a one-shot timer is gone, a repeating one moves to its next
    /// deadline (not earlier than `now`: a late loop does not run it again to catch up). Nil
    /// when an earlier action of the same batch cancelled it.
    public mutating func fire(_ id: LoopTimerID, now: Instant) -> (() -> Void)? {
        guard let index = timers.firstIndex(where: { $0.id == id }) else { return nil }
        let timer = timers[index]
        if let interval = timer.interval {
            timers[index].deadline = max(timer.deadline + interval, now)
        } else {
            timers.remove(at: index)
        }
        updateEarliestDeadline()
        return timer.action
    }

    private mutating func updateEarliestDeadline() {
        earliestDeadline = .max
        for index in timers.indices {
            earliestDeadline = min(earliestDeadline, timers[index].deadline.nanoseconds)
        }
    }
}
