import F2FBase

/// Every node's latest advert, as this node has heard them (docs/mesh-routing.md). Pure and
/// on virtual time: adverts come in with `receive(_:now:)`, this node's own with
/// `originate(links:stations:now:)`, and `expire(now:)` forgets origins that stopped
/// refreshing. `routes()` runs Dijkstra over what is known.
public struct LinkStateDatabase: Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Newer than what was known: stored; flood it to every other friend.
        case installed
        /// Not newer: dropped, not flooded (this is what ends the flood).
        case stale
        /// An advert of our own origin with a sequence at or above ours, left from before a
        /// restart: our next advert must outnumber it (`originate` takes care of that).
        case ownOutnumbered
        /// A new origin while `maximumOrigins` are known: not stored, not flooded (a friend
        /// inventing node ids cannot grow the database without bound).
        case refusedFull
    }

    public static let maximumOrigins = 1024

    private struct Record: Sendable {
        var advert: MeshAdvert
        var expires: Instant
    }

    public let ownID: UInt64
    /// How long an advert lives without a refresh; origins refresh well within it.
    public var lifetime: Duration
    private var records: [UInt64: Record] = [:]
    private var ownSequence: UInt32 = 0

    public init(ownID: UInt64, lifetime: Duration = .seconds(40)) {
        self.ownID = ownID
        self.lifetime = lifetime
    }

    public var adverts: [MeshAdvert] {
        records.values.map(\.advert).sorted { $0.origin < $1.origin }
    }

    public func advert(of origin: UInt64) -> MeshAdvert? {
        records[origin]?.advert
    }

    /// Replaces this node's advert with a newer one; returns it, for flooding.
    @discardableResult
    public mutating func originate(links: [MeshAdvert.Link], stations: [UInt64], now: Instant) -> MeshAdvert {
        ownSequence &+= 1
        let advert = MeshAdvert(origin: ownID, sequence: ownSequence, links: links, stations: stations)
        records[ownID] = Record(advert: advert, expires: .zero)  // our own never expires
        return advert
    }

    public mutating func receive(_ advert: MeshAdvert, now: Instant) -> Outcome {
        if advert.origin == ownID {
            guard Self.isNewer(advert.sequence, than: ownSequence) || advert.sequence == ownSequence else { return .stale }
            if let own = records[ownID]?.advert, own == advert { return .stale }
            ownSequence = advert.sequence
            return .ownOutnumbered
        }
        if let known = records[advert.origin]?.advert {
            guard Self.isNewer(advert.sequence, than: known.sequence) else { return .stale }
        } else if records.count >= Self.maximumOrigins {
            return .refusedFull
        }
        records[advert.origin] = Record(advert: advert, expires: now + lifetime)
        return .installed
    }

    /// Forgets the adverts of origins that stopped refreshing; true if any went.
    public mutating func expire(now: Instant) -> Bool {
        let doomed = records.compactMap { origin, record in origin != ownID && record.expires <= now ? origin : nil }
        for origin in doomed { records[origin] = nil }
        return !doomed.isEmpty
    }

    /// Serial-number order (RFC 1982): a sequence that wrapped is still newer.
    static func isNewer(_ sequence: UInt32, than known: UInt32) -> Bool {
        sequence != known && sequence &- known < 1 << 31
    }

    /// Shortest paths from this node to every node it can reach, and the owner of every
    /// station exactly one reachable node claims. A link counts only when both its ends
    /// advertise it (the two-way check), so a node that went away, or one end's stale
    /// view, cannot draw traffic onto a link that is not there.
    public func routes() -> MeshRoutes {
        var routes = MeshRoutes(ownID: ownID)
        routes.distance[ownID] = 0
        var settled: Set<UInt64> = []
        // O(n²) Dijkstra: meshes of friends have tens of nodes, not thousands.
        while true {
            var next: (id: UInt64, distance: UInt64)?
            for (id, distance) in routes.distance where !settled.contains(id) {
                if next.map({ (distance, id) < ($0.distance, $0.id) }) ?? true { next = (id, distance) }
            }
            guard let next else { break }
            let (node, distance) = (next.id, next.distance)
            settled.insert(node)
            guard let advert = records[node]?.advert else { continue }
            for link in advert.links where !settled.contains(link.neighbour) && isTwoWay(node, link.neighbour) {
                let candidate = distance + UInt64(max(link.cost, 1))
                let known = routes.distance[link.neighbour]
                // Equal cost: the lower predecessor id, so every node breaks ties alike.
                let better = known.map { candidate < $0 || (candidate == $0 && node < (routes.predecessor[link.neighbour] ?? .max)) } ?? true
                guard better else { continue }
                routes.distance[link.neighbour] = candidate
                routes.predecessor[link.neighbour] = node
                routes.nextHop[link.neighbour] = node == ownID ? link.neighbour : routes.nextHop[node]
            }
        }
        var claims: [UInt64: UInt64] = [:]
        var contested: Set<UInt64> = []
        for id in settled {
            guard let advert = records[id]?.advert else { continue }
            for station in advert.stations {
                if let other = claims.updateValue(id, forKey: station), other != id { contested.insert(station) }
            }
        }
        for station in contested { claims[station] = nil }
        routes.owners = claims
        routes.contested = contested.count
        return routes
    }

    private func isTwoWay(_ a: UInt64, _ b: UInt64) -> Bool {
        records[b]?.advert.links.contains { $0.neighbour == a } ?? false
    }
}

/// Where this node sends a routed frame: per node reached, the neighbour its shortest path
/// starts with; per station, its owner.
public struct MeshRoutes: Equatable, Sendable {
    public let ownID: UInt64
    public var distance: [UInt64: UInt64] = [:]
    public var predecessor: [UInt64: UInt64] = [:]
    public var nextHop: [UInt64: UInt64] = [:]
    /// Station key → owning node, for stations exactly one reachable node claims (ours too).
    public var owners: [UInt64: UInt64] = [:]
    /// Stations two or more nodes claim: they stay on the spanning tree.
    public var contested = 0

    public init(ownID: UInt64) {
        self.ownID = ownID
    }

    /// The nodes a frame for `destination` crosses, this node first; nil when unreachable.
    public func path(to destination: UInt64) -> [UInt64]? {
        guard distance[destination] != nil else { return nil }
        var path = [destination]
        var node = destination
        while node != ownID, let previous = predecessor[node] {
            path.append(previous)
            node = previous
        }
        return path.reversed()
    }
}
