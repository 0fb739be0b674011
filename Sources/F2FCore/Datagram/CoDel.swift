import F2FBase

/// The CoDel drop decision of RFC 8289 (§5 and the pseudocode of its Appendix A): a queue is
/// judged by how long its packets waited (sojourn time), not by its length. When every packet
/// for a whole `interval` waited longer than `target`, a standing queue has formed; CoDel then
/// drops at the head, at intervals shrinking with the square root of the drop count, until the
/// sojourn time falls below `target` again. Bursts pass; only a queue that stays is drained.
///
/// Separate from any storage: the queue asks `shouldDrop(sojourn:queueEmptyAfter:now:)` for
/// each packet it dequeues and drops the packet when told to.
public struct CoDel: Sendable {
    public let target: Duration
    public let interval: Duration

    private var firstAboveTime: Instant?
    private var dropNext = Instant.zero
    private var count = 0
    private var lastCount = 0
    private var dropping = false

    /// RFC 8289 §4.3–4.4: 5 ms and 100 ms suit paths up to a few hundred ms of RTT.
    public init(target: Duration = .milliseconds(5), interval: Duration = .milliseconds(100)) {
        self.target = target
        self.interval = interval
    }

    public var isDropping: Bool { dropping }

    /// For the packet at the head, about to be sent: true to drop it instead (and ask again for
    /// the next one). `isLast`: no packet waits behind it, so there is no standing queue to
    /// drain (RFC 8289's "bytes in queue < MTU", in packets).
    public mutating func shouldDrop(sojourn: Duration, isLast: Bool, now: Instant) -> Bool {
        let okToDrop = judge(sojourn: sojourn, isLast: isLast, now: now)
        if dropping {
            if !okToDrop {
                dropping = false
                return false
            }
            guard now >= dropNext else { return false }
            count += 1
            dropNext = controlLaw(dropNext)
            return true
        }
        guard okToDrop else { return false }
        dropping = true
        // Start near the drop rate that last controlled the queue if that was recent (§5.5).
        let delta = count - lastCount
        count = delta > 1 && now - dropNext < interval * 16 ? delta : 1
        dropNext = controlLaw(now)
        lastCount = count
        return true
    }

    /// The queue went empty: a standing queue cannot be there.
    public mutating func queueEmptied() {
        firstAboveTime = nil
        dropping = false
    }

    private mutating func judge(sojourn: Duration, isLast: Bool, now: Instant) -> Bool {
        if sojourn < target || isLast {
            firstAboveTime = nil
            return false
        }
        guard let firstAboveTime else {
            firstAboveTime = now + interval
            return false
        }
        return now >= firstAboveTime
    }

    private func controlLaw(_ time: Instant) -> Instant {
        time + .nanoseconds(Int64(Double(interval.nanoseconds) / Double(count).squareRoot()))
    }
}
