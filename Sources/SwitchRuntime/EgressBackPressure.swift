import F2FBase

/// Back-pressure on one egress port, as a value the engine keeps in the port's record: which
/// sources were paused because this port could not take their frames, since when the first of
/// them waits, and whether the port counts as stalled. Time is a parameter, so the policy is
/// tested on explicit instants, without sockets or a loop.
///
/// The water marks are the port's queue: a flush that leaves any frame queued (high water:
/// one frame) holds the sources that fed it; an empty queue (low water: zero) lets them go.
/// A port its senders waited on for the stall timeout (a stopped guest) no longer holds
/// them: frames for it are dropped by its full queue until it drains.
struct EgressBackPressure {
    /// The sources paused behind this port, in the order they were paused.
    private(set) var pausedSources: [Int] = []
    /// When the first of them was paused; nil while none waits.
    private(set) var waitingSince: Instant?
    private(set) var isStalled = false

    /// Whether a flush that left frames queued (`isBackedUp`) should pause the sources that
    /// fed the port.
    func holdsSources(isBackedUp: Bool) -> Bool {
        isBackedUp && !isStalled
    }

    /// `source` stopped reading because of this port.
    mutating func paused(_ source: Int, now: Instant) {
        if pausedSources.isEmpty { waitingSince = now }
        pausedSources.append(source)
    }

    /// The port's queue emptied (or the port went): it is not stalled any more, and each
    /// paused source is handed to `resume`, in the order it was paused.
    mutating func drained(resume: (Int) -> Void) {
        isStalled = false
        release(resume)
    }

    /// From the periodic tick: a port its sources have waited on for `timeout` is stalled,
    /// and they are handed to `resume`. True when the port became stalled now.
    mutating func checkStall(now: Instant, timeout: Duration, resume: (Int) -> Void) -> Bool {
        guard let since = waitingSince, now - since >= timeout else { return false }
        isStalled = true
        release(resume)
        return true
    }

    private mutating func release(_ resume: (Int) -> Void) {
        guard !pausedSources.isEmpty else { return }
        for source in pausedSources { resume(source) }
        // Kept: pausing again must not allocate.
        pausedSources.removeAll(keepingCapacity: true)
        waitingSince = nil
    }
}
