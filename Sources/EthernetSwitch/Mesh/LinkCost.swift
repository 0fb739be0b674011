import F2FBase

/// The cost a node advertises for one friend link, from the link's measured RTT and loss,
/// with two filters against flapping: the RTT used is the lowest smoothed RTT seen over the
/// last one to two `window`s (a windowed minimum, as BBR keeps min_rtt: a burst of queueing
/// or a busy host raises samples for a moment, the path's delay has not changed), and the
/// advertised cost moves only when the measurement leaves a band around it, so jitter does
/// not re-route traffic (and reorder flows) back and forth. A real rise in delay shows within
/// two windows; loss at once.
///
/// Cost units are 100 µs of RTT, plus `perHop` (5 ms worth) for every link: among paths of
/// similar delay the one with fewer hops (fewer nodes to cross) wins, and on a LAN, where
/// RTTs are far below a millisecond but a loaded host's scheduling adds a few, routes are
/// fewest-hops rather than a lottery. Loss multiplies: every 10 % of loss doubles the cost.
public struct LinkCost: Equatable, Sendable {
    public static let perHop: UInt32 = 50
    /// A link without RTT samples (the TCP path) counts as a 1 ms link.
    public static let unmeasured: UInt32 = perHop + 10
    public static let maximum: UInt32 = 1_000_000
    public static let window: Duration = .seconds(5)

    /// What the node advertises now.
    public private(set) var advertised: UInt32
    /// The latest measurement (filtered RTT and loss), before hysteresis.
    public private(set) var measured: UInt32
    /// Set from the console: measurements are ignored while it is.
    public var pinned: UInt32?
    /// The windowed minimum: the lowest RTT of the current window and of the one before.
    private var currentMinimum: Duration?
    private var previousMinimum: Duration?
    private var windowEnds: Instant?

    public init() {
        advertised = Self.unmeasured
        measured = Self.unmeasured
    }

    public var current: UInt32 { pinned ?? advertised }

    /// The cost of a link with this RTT and loss rate (0...1), before hysteresis.
    public static func cost(rtt: Duration?, loss: Double?) -> UInt32 {
        guard let rtt else { return unmeasured }
        let units = max(0, rtt.nanoseconds) / 100_000
        var cost = Double(perHop) + Double(units)
        if let loss, loss > 0 { cost *= 1 + min(loss, 1) * 10 }
        return UInt32(min(cost.rounded(), Double(maximum)))
    }

    /// Takes a measurement at `now`; true when the advertised cost changed. The band is a
    /// quarter of the advertised cost (at least 2 units) each way.
    public mutating func update(rtt: Duration?, loss: Double?, now: Instant) -> Bool {
        if let rtt {
            if let ends = windowEnds, now < ends {
                currentMinimum = min(currentMinimum ?? rtt, rtt)
            } else {
                previousMinimum = windowEnds.map { now < $0 + Self.window } ?? false ? currentMinimum : nil
                currentMinimum = rtt
                windowEnds = now + Self.window
            }
        }
        let filtered = [currentMinimum, previousMinimum].compactMap { $0 }.min()
        measured = Self.cost(rtt: filtered, loss: loss)
        let difference = measured > advertised ? measured - advertised : advertised - measured
        guard difference > max(advertised / 4, 2) else { return false }
        advertised = measured
        return pinned == nil
    }
}
