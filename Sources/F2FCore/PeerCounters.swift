/// Per-peer traffic and fault counters, for the console and tests.
public struct PeerCounters: Equatable, Sendable {
    public var packetsIn: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var packetsOut: UInt64 = 0
    public var bytesOut: UInt64 = 0
    /// Packets no listener claimed.
    public var unclaimedDropped: UInt64 = 0
    /// Frames the peer's port dropped because the link was busy.
    public var framesDropped: UInt64 = 0

    public init() {}
}
