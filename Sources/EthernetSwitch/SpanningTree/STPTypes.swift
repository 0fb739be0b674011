/// 17.7: a port's role in the active topology.
public enum STPPortRole: String, Sendable, CaseIterable {
    case disabled, root, designated, alternate, backup
}

/// 17.5 / 7.4: what a port does with frames.
public enum STPPortState: String, Sendable {
    /// Neither learns nor forwards (802.1D's blocking/listening collapse into this).
    case discarding
    /// Learns source addresses, forwards nothing.
    case learning
    case forwarding

    public var learns: Bool { self != .discarding }
    public var forwards: Bool { self == .forwarding }
}

/// What the spanning tree asks the switch to do.
public enum STPAction: Equatable, Sendable {
    /// Send this BPDU on the port.
    case transmit(port: Int, BPDU)
    /// Forget the stations learned on the port (topology change, 17.29 fdbFlush).
    case flush(port: Int)
    /// The port's forwarding state changed.
    case stateChanged(port: Int, STPPortState)
    /// Something the operator should hear of (a guard acted).
    case notice(STPNotice)
}

/// Bridge-wide settings (17.13, 17.14).
public struct SpanningTreeConfiguration: Equatable, Sendable {
    /// 4-bit priority in steps of 4096 (17.13.7); default 32768.
    public var priority: UInt16 = 0x8000
    public var times: STPTimes = .standard
    /// Version 2 (RSTP); a port falls back to 0 (STP) when it hears a legacy bridge.
    public var forceProtocolVersion: UInt8 = 2
    /// 17.13.12: at most this many BPDUs per second on a port.
    public var transmitHoldCount = 6
    /// 17.13.9: how long a port keeps talking STP after it hears a legacy BPDU.
    public var migrateTime: Duration = .seconds(3)
    /// How long news of a root we just lost is ignored: longer than a BPDU takes to cross a
    /// link, so that ones sent before the loss have arrived (see SpanningTree).
    public var staleInformationHold: Duration = .milliseconds(40)
    /// At most one topology change heard on a port is acted on per this interval, whatever the
    /// guards say: each one flushes MAC tables, and flooding hands the sender others' unicast.
    public var topologyChangeInterval: Duration = .seconds(1)

    public init() {}

    /// 17.14 Table 17-3: the recommended port path cost for a link speed, in Mb/s.
    public static func defaultPathCost(megabitsPerSecond speed: UInt64) -> UInt32 {
        guard speed > 0 else { return 200_000_000 }
        return UInt32(clamping: max(1, 20_000_000_000 / (speed * 1000)))
    }
}
