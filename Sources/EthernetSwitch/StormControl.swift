import F2FBase

/// The kinds of frame a switch floods, each with its own storm limit.
public enum FloodClass: Int, CaseIterable, Sendable, CustomStringConvertible {
    case broadcast
    case multicast
    /// Unicast to a station the table does not know.
    case unknownUnicast

    /// The console's word for the class (`port/setstorm PORT bcast|mcast|unknown N`).
    public var description: String {
        switch self {
        case .broadcast: "bcast"
        case .multicast: "mcast"
        case .unknownUnicast: "unknown"
        }
    }

    public init?(name: some StringProtocol) {
        guard let match = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }

    var dropReason: DropReason {
        switch self {
        case .broadcast: .stormBroadcast
        case .multicast: .stormMulticast
        case .unknownUnicast: .stormUnknownUnicast
        }
    }
}

/// Flooded frames per second one port may send into the switch, per class; 0 = unlimited.
public struct StormLimits: Equatable, Sendable {
    public var broadcast: UInt32
    public var multicast: UInt32
    public var unknownUnicast: UInt32

    public init(broadcast: UInt32, multicast: UInt32, unknownUnicast: UInt32) {
        self.broadcast = broadcast
        self.multicast = multicast
        self.unknownUnicast = unknownUnicast
    }

    public static let unlimited = StormLimits(broadcast: 0, multicast: 0, unknownUnicast: 0)

    /// Peer links by default: ARP, neighbour discovery, DHCP and mDNS of a few hundred
    /// stations stay far below 1000 frames/s per class, while a friend's line-rate flood
    /// (hundreds of thousands a second) is cut to what every local client can take.
    public static let peerDefault = StormLimits(broadcast: 1000, multicast: 1000, unknownUnicast: 1000)

    public subscript(floodClass: FloodClass) -> UInt32 {
        get {
            switch floodClass {
            case .broadcast: broadcast
            case .multicast: multicast
            case .unknownUnicast: unknownUnicast
            }
        }
        set {
            switch floodClass {
            case .broadcast: broadcast = newValue
            case .multicast: multicast = newValue
            case .unknownUnicast: unknownUnicast = newValue
            }
        }
    }
}

/// One token bucket per flood class, on virtual time, kept as the theoretical arrival time
/// of the generic cell rate algorithm (ITU-T I.371; a token bucket in one number): a frame is
/// admitted while the bucket is at most one second ahead of `now`, and moves it on by
/// 1/rate. So a port may burst `rate` frames and then sends `rate` a second; no clock is
/// read and nothing is allocated.
public struct StormMeters: Sendable {
    private var broadcast: Int64 = 0
    private var multicast: Int64 = 0
    private var unknownUnicast: Int64 = 0

    public init() {}

    @inline(__always)
    mutating func admit(_ floodClass: FloodClass, rate: UInt32, now: Instant) -> Bool {
        switch floodClass {
        case .broadcast: Self.admit(&broadcast, rate: rate, now: now.nanoseconds)
        case .multicast: Self.admit(&multicast, rate: rate, now: now.nanoseconds)
        case .unknownUnicast: Self.admit(&unknownUnicast, rate: rate, now: now.nanoseconds)
        }
    }

    @inline(__always)
    private static func admit(_ theoreticalArrival: inout Int64, rate: UInt32, now: Int64) -> Bool {
        let second: Int64 = 1_000_000_000
        let interval = second / Int64(rate)
        let arrival = max(theoreticalArrival, now)
        guard arrival - now <= second - interval else { return false }
        theoreticalArrival = arrival + interval
        return true
    }
}
