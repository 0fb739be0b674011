import F2FBase

/// The mutual friend's part in NAT traversal (docs/nat-traversal.md): it keeps, for each
/// friend linked to it, whom that friend wants to reach (`wanted-friends`) and the UDP
/// endpoint its datagrams come from, and introduces two linked friends to each other only
/// when **each named the other**. Naming someone means having them in one's friend list, so an
/// introduction never connects two nodes that are not each other's friends, and an endpoint is
/// only revealed to a node its owner asked for.
///
/// A pair is introduced at once, then again with backoff while both still ask (their direct
/// link did not come up: punching failed, e.g. behind a symmetric NAT), and forgotten when
/// either stops asking (they linked) or leaves. Pure: the caller passes the time and sends
/// what `due` returns.
public struct IntroductionBroker<Node: Hashable, Endpoint: Equatable> {
    public struct Policy: Sendable {
        public var firstRetry: Duration
        public var maximumRetry: Duration

        public init(firstRetry: Duration = .seconds(2), maximumRetry: Duration = .seconds(64)) {
            self.firstRetry = firstRetry
            self.maximumRetry = maximumRetry
        }
    }

    /// "`about` wants to reach you too, at these endpoints", for `to`.
    public struct Introduction: Equatable {
        public let to: Node
        public let about: Node
        public let endpoints: [Endpoint]
    }

    public struct Counters: Equatable, Sendable {
        public var introductions: UInt64 = 0
        /// Introductions of a pair after its first (punching had not linked them).
        public var retries: UInt64 = 0
    }

    private struct Member {
        var wants: Set<Node> = []
        var local: [Endpoint] = []
        var observed: Endpoint?
    }

    /// Two nodes, in either order.
    private struct Pair: Hashable {
        let first: Node
        let second: Node

        static func == (lhs: Pair, rhs: Pair) -> Bool {
            (lhs.first == rhs.first && lhs.second == rhs.second) || (lhs.first == rhs.second && lhs.second == rhs.first)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(first.hashValue ^ second.hashValue)
        }
    }

    private struct Schedule {
        var next: Instant
        var interval: Duration
        var sent: Int
    }

    public let policy: Policy
    public private(set) var counters = Counters()
    private var members: [Node: Member] = [:]
    private var schedules: [Pair: Schedule] = [:]

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// `node` (linked to us) asks for these friends and says it is at these local endpoints.
    public mutating func setWants(_ wants: Set<Node>, local: [Endpoint], of node: Node) {
        members[node, default: Member()].wants = wants.subtracting([node])
        members[node, default: Member()].local = local
    }

    /// Where `node`'s authenticated datagrams reach us from (nil: none yet).
    public mutating func setObserved(_ endpoint: Endpoint?, of node: Node) {
        members[node, default: Member()].observed = endpoint
    }

    /// `node`'s link to us is gone: it is introduced to nobody and nobody to it.
    public mutating func remove(_ node: Node) {
        members[node] = nil
    }

    /// The pairs that may be introduced now: linked to us, each asking for the other, each
    /// with an observed endpoint.
    private func eligiblePairs() -> Set<Pair> {
        var pairs = Set<Pair>()
        for (node, member) in members where member.observed != nil {
            for other in member.wants {
                guard let peer = members[other], peer.observed != nil, peer.wants.contains(node) else { continue }
                pairs.insert(Pair(first: node, second: other))
            }
        }
        return pairs
    }

    /// The introductions to send now (two per pair, one to each side).
    public mutating func due(now: Instant) -> [Introduction] {
        let pairs = eligiblePairs()
        schedules = schedules.filter { pairs.contains($0.key) }
        var introductions: [Introduction] = []
        for pair in pairs {
            var schedule = schedules[pair] ?? Schedule(next: now, interval: policy.firstRetry, sent: 0)
            guard now >= schedule.next, let first = members[pair.first], let second = members[pair.second],
                let firstSeen = first.observed, let secondSeen = second.observed
            else { continue }
            introductions.append(Introduction(to: pair.first, about: pair.second, endpoints: [secondSeen] + second.local))
            introductions.append(Introduction(to: pair.second, about: pair.first, endpoints: [firstSeen] + first.local))
            counters.introductions &+= 2
            if schedule.sent > 0 { counters.retries &+= 1 }
            schedule.sent += 1
            schedule.next = now + schedule.interval
            schedule.interval = min(schedule.interval * 2, policy.maximumRetry)
            schedules[pair] = schedule
        }
        return introductions
    }

    /// The pairs being introduced (for the console).
    public var pairCount: Int { schedules.count }
}
