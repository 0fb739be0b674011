/// Tunables of the switch core. Defaults follow the issue: 32 ports, 9234-byte frames
/// (what vdeplug4 accepts), 300 s MAC aging.
public struct SwitchConfiguration: Equatable, Sendable {
    public static let defaultMaxFrameSize = 9234

    /// Ports are numbered 0..<portCount; port 0 is only handed out on request (vde_switch's rule).
    public var portCount: Int
    public var maxFrameSize: Int
    public var macTableCapacity: Int
    public var macAgingTime: Duration

    public init(
        portCount: Int = 32,
        maxFrameSize: Int = SwitchConfiguration.defaultMaxFrameSize,
        macTableCapacity: Int = 8192,
        macAgingTime: Duration = .seconds(300)
    ) {
        self.portCount = portCount
        self.maxFrameSize = maxFrameSize
        self.macTableCapacity = macTableCapacity
        self.macAgingTime = macAgingTime
    }
}
