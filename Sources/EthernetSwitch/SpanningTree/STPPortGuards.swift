/// Per-port protections against neighbours that are not fully trusted.
///
/// A spanning tree believes whatever BPDUs say, so one neighbour announcing priority 0 becomes
/// the root and draws the traffic of others through itself, and one sending topology changes
/// keeps every MAC table flushed (and the unicast flooding). These settings bound what a port's
/// neighbour can do; none of them stops the tree from cutting loops.
public struct STPPortGuards: Equatable, Sendable {
    /// Root guard (802.1Q 13.27.64 restrictedRole): the port never becomes the root port. When
    /// it hears a better root than the bridge has elsewhere, it is discarding
    /// ("root-inconsistent") until that information stops or gets worse.
    public var rootGuard: Bool
    /// Topology-change guard (802.1Q 13.27.65 restrictedTcn): topology changes heard on the port
    /// flush nothing and go no further.
    public var topologyChangeGuard: Bool
    /// BPDU guard: the first BPDU heard takes the port down (for ports where no bridge may be).
    public var bpduGuard: Bool
    /// BPDU filter: the port sends no BPDUs and ignores those it hears, so it stays edge and
    /// loops through it go unseen. Only for a client that must not see BPDUs.
    public var bpduFilter: Bool

    public init(rootGuard: Bool = false, topologyChangeGuard: Bool = false, bpduGuard: Bool = false, bpduFilter: Bool = false) {
        self.rootGuard = rootGuard
        self.topologyChangeGuard = topologyChangeGuard
        self.bpduGuard = bpduGuard
        self.bpduFilter = bpduFilter
    }

    /// The guards that are on, by their console names, for `stp/print`.
    public var names: [String] {
        var names: [String] = []
        if rootGuard { names.append("root") }
        if topologyChangeGuard { names.append("tcn") }
        if bpduGuard { names.append("bpdu") }
        if bpduFilter { names.append("filter") }
        return names
    }
}

/// What the spanning tree reports for the operator's log (never per frame: each is a change).
public enum STPNotice: Equatable, Sendable {
    /// Root guard holds the port discarding: the neighbour announced `root`, better than ours.
    case rootInconsistent(port: Int, root: BridgeID)
    /// The port's neighbour no longer announces a better root: root guard lets it take part again.
    case rootConsistent(port: Int)
    /// BPDU guard: a BPDU arrived on the port, which is to be taken down.
    case bpduGuardTripped(port: Int)
    /// A topology change from the port was not acted on (guard, or over the rate limit);
    /// reported once per second per port at most, with the count since the last report.
    case topologyChangesIgnored(port: Int, count: UInt64)
    /// Role selection and the port transitions did not settle within the pass limit (a bug in
    /// the machines, or an input they were not written for); `count` is the total so far.
    /// Reported on the 1st, 2nd, 4th, 8th... time, so a repeating cause costs few log lines.
    case fixPointCapReached(count: UInt64)
}
