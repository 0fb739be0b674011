/// Why a frame was not delivered. Each reason is counted per port.
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Shorter than an Ethernet header (14 bytes).
    case runt
    /// Longer than the configured maximum frame size.
    case oversize
    /// Addressed to a station on the port it came from (no hairpin).
    case hairpin
    /// The ingress port is not forwarding (spanning tree) or not active.
    case portBlocked
    /// The egress port's bounded burst queue was full (drop-tail).
    case queueFull
    /// The egress socket refused the frame with an error other than "try again".
    case sendFailed
    /// Malformed control traffic (a BPDU that does not parse).
    case malformed
    /// The source address belongs to a static entry on another port, or (from a peer link)
    /// to a live local station: a friend spoofing it, or a loop bringing its frames back.
    case protectedAddress
    /// A locked port's frame whose source is not a static entry on that port.
    case locked
    /// Over the ingress port's storm limit for broadcast, multicast or unknown unicast.
    case stormBroadcast
    case stormMulticast
    case stormUnknownUnicast
    /// A tagged frame for a VLAN the port is not a member of, or an untagged one on a port
    /// with no untagged VLAN (802.1Q ingress filtering).
    case vlan
    /// Waited too long in a friend link's queue: dropped at its head by CoDel, so that a bulk
    /// transfer slows down instead of building a standing queue.
    case queueDelay

    public var description: String {
        switch self {
        case .runt: "runt"
        case .oversize: "oversize"
        case .hairpin: "hairpin"
        case .portBlocked: "blocked"
        case .queueFull: "queue-full"
        case .sendFailed: "send-failed"
        case .malformed: "malformed"
        case .protectedAddress: "protected-mac"
        case .locked: "locked"
        case .stormBroadcast: "storm-bcast"
        case .stormMulticast: "storm-mcast"
        case .stormUnknownUnicast: "storm-unknown"
        case .vlan: "vlan"
        case .queueDelay: "queue-delay"
        }
    }
}

/// Traffic counters of one switch port. Drops are counted on the port where the decision
/// was made: ingress for runt/oversize/hairpin/protected-mac/locked/storm/vlan, egress for queue-full/send-failed/queue-delay.
public struct PortCounters: Equatable, Sendable {
    public var framesIn: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var framesOut: UInt64 = 0
    public var bytesOut: UInt64 = 0
    /// New source addresses not learned because the port held its MAC limit.
    public var macLimitRefusals: UInt64 = 0
    /// Times reading from this port stopped because a port it sent to was backed up.
    public var pauses: UInt64 = 0
    private var drops = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public subscript(dropped reason: DropReason) -> UInt64 {
        get { drops[reason.rawValue] }
        set { drops[reason.rawValue] = newValue }
    }

    public var totalDrops: UInt64 {
        drops.reduce(0, +)
    }
}
