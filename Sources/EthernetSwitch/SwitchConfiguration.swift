/// Tunables of the switch core. Defaults follow the issue: 32 ports, 9234-byte frames
/// (what vdeplug4 accepts), 300 s MAC aging.
public struct SwitchConfiguration: Equatable, Sendable {
    public static let defaultMaxFrameSize = 9234

    /// Ports are numbered 0..<portCount; port 0 is only handed out on request (vde_switch's rule).
    public var portCount: Int
    public var maxFrameSize: Int
    public var macTableCapacity: Int
    public var macAgingTime: Duration
    /// Spanning tree path cost of client (edge) ports and of peer links; 802.1D-2004 Table 17-3
    /// gives 20 000 for 1 Gb/s.
    public var clientPathCost: UInt32
    public var peerPathCost: UInt32
    /// Stations one client or `--plug` port, and one peer link, may hold in the MAC table.
    public var clientMACLimit: Int
    public var peerMACLimit: Int
    /// Stations all peer links together may hold: the rest of the table stays for local
    /// clients however many friends link (half the table unless set).
    public var peersMACLimit: Int
    /// Storm limits of ports whose limits were not set from the console: unlimited for local
    /// clients (their owner is local), generous for peer links (StormLimits.peerDefault).
    public var clientStormLimits: StormLimits
    public var peerStormLimits: StormLimits
    /// Hub mode (`-x`, vde_switch's): every frame floods, nothing is learned.
    public var isHub: Bool

    public init(
        portCount: Int = 32,
        maxFrameSize: Int = SwitchConfiguration.defaultMaxFrameSize,
        macTableCapacity: Int = 8192,
        macAgingTime: Duration = .seconds(300),
        clientPathCost: UInt32 = SpanningTreeConfiguration.defaultPathCost(megabitsPerSecond: 1000),
        peerPathCost: UInt32 = SpanningTreeConfiguration.defaultPathCost(megabitsPerSecond: 1000),
        clientMACLimit: Int = 1024,
        peerMACLimit: Int = 4096,
        peersMACLimit: Int? = nil,
        clientStormLimits: StormLimits = .unlimited,
        peerStormLimits: StormLimits = .peerDefault,
        isHub: Bool = false
    ) {
        self.portCount = portCount
        self.maxFrameSize = maxFrameSize
        self.macTableCapacity = macTableCapacity
        self.macAgingTime = macAgingTime
        self.clientPathCost = clientPathCost
        self.peerPathCost = peerPathCost
        self.clientMACLimit = clientMACLimit
        self.peerMACLimit = peerMACLimit
        self.peersMACLimit = peersMACLimit ?? max(1, macTableCapacity / 2)
        self.clientStormLimits = clientStormLimits
        self.peerStormLimits = peerStormLimits
        self.isHub = isHub
    }
}
