import EthernetSwitch
import F2FBase

/// N spanning-tree bridges joined by point-to-point links, on virtual time. BPDUs take one
/// step to cross a link; after every step the simulator checks that the forwarding links
/// form no loop.
public final class STPSimulator {
    public struct Link: Hashable {
        public var a: Int
        public var portA: Int
        public var b: Int
        public var portB: Int
    }

    public private(set) var bridges: [SpanningTree]
    public private(set) var links: [Link] = []
    public private(set) var now = Instant(nanoseconds: 1_000_000_000)
    public let step: Duration
    private var inFlight: [(bridge: Int, port: Int, bpdu: BPDU)] = []
    private var silenced: Set<Link> = []
    /// Every action each bridge took that was not a transmission (flushes, state changes,
    /// notices), in order.
    public private(set) var effects: [(bridge: Int, action: STPAction)] = []
    /// Set when a step ever saw a forwarding loop.
    public private(set) var loopSeenAt: Instant?
    public private(set) var transmittedBPDUs = 0
    /// Sees every BPDU sent (bridge, port, BPDU), for diagnosing a scenario.
    public var trace: ((Int, Int, BPDU) -> Void)?

    public init(count: Int, priorities: [UInt16]? = nil, legacy: Set<Int> = [], step: Duration = .milliseconds(10)) {
        self.step = step
        bridges = (0..<count).map { index in
            var configuration = SpanningTreeConfiguration()
            configuration.priority = priorities?[index] ?? 0x8000
            if legacy.contains(index) { configuration.forceProtocolVersion = 0 }
            return SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0000 | UInt64(index + 1)), configuration: configuration)
        }
    }

    /// Cables two bridges; each gets the next free port number. A peer link by default; with
    /// `cable`, a VDE cable between two client ports (edge, not point-to-point), as
    /// `dpipe vde_plug = vde_plug` or `wirefilter` make.
    @discardableResult
    public func connect(
        _ a: Int, _ b: Int, cost: UInt32 = 20_000, cable: Bool = false,
        guardsA: STPPortGuards = STPPortGuards(), guardsB: STPPortGuards = STPPortGuards()
    ) -> Link {
        let portA = nextPort(a)
        // A bridge cabled to itself gets two ports.
        let link = Link(a: a, portA: portA, b: b, portB: a == b ? portA + 1 : nextPort(b))
        links.append(link)
        var actions: [STPAction] = []
        bridges[a].enablePort(link.portA, pathCost: cost, edge: cable, pointToPoint: !cable, guards: guardsA, now: now, actions: &actions)
        apply(actions, from: a)
        actions.removeAll()
        bridges[b].enablePort(link.portB, pathCost: cost, edge: cable, pointToPoint: !cable, guards: guardsB, now: now, actions: &actions)
        apply(actions, from: b)
        return link
    }

    /// The link stays up at both ends but carries nothing (wirefilter's `loss 100`).
    public func silence(_ link: Link) {
        silenced.insert(link)
        inFlight.removeAll { ($0.bridge == link.a && $0.port == link.portA) || ($0.bridge == link.b && $0.port == link.portB) }
    }

    public func unsilence(_ link: Link) {
        silenced.remove(link)
    }

    public func setGuards(_ guards: STPPortGuards, of bridge: Int, port: Int) {
        var actions: [STPAction] = []
        bridges[bridge].setGuards(guards, port: port, now: now, actions: &actions)
        apply(actions, from: bridge)
    }

    /// Cuts a link: both ends see the port go down at once (a closed F2F link).
    public func cut(_ link: Link) {
        links.removeAll { $0 == link }
        inFlight.removeAll { ($0.bridge == link.a && $0.port == link.portA) || ($0.bridge == link.b && $0.port == link.portB) }
        for (bridge, port) in [(link.a, link.portA), (link.b, link.portB)] {
            var actions: [STPAction] = []
            bridges[bridge].disablePort(port, now: now, actions: &actions)
            apply(actions, from: bridge)
        }
    }

    /// Removes a bridge and all its links (power loss).
    public func fail(_ bridge: Int) {
        for link in links where link.a == bridge || link.b == bridge { cut(link) }
    }

    public func setPriority(_ priority: UInt16, of bridge: Int) {
        var actions: [STPAction] = []
        bridges[bridge].setPriority(priority, now: now, actions: &actions)
        apply(actions, from: bridge)
    }

    /// Advances virtual time by `duration`, step by step.
    public func run(for duration: Duration) {
        let end = now + duration
        while now < end { advance() }
    }

    /// Runs until the forwarding links form a spanning tree of each connected component and
    /// stay so for `stable`; returns the time it took, nil if never within `limit`.
    public func converge(within limit: Duration, stable: Duration = .seconds(2)) -> Duration? {
        let start = now
        var treeSince: Instant?
        while now - start < limit {
            advance()
            if isSpanningForest {
                if treeSince == nil { treeSince = now }
                if now - treeSince! >= stable { return treeSince! - start }
            } else {
                treeSince = nil
            }
        }
        return nil
    }

    public func advance() {
        now = now + step
        let delivering = inFlight
        inFlight.removeAll()
        for message in delivering {
            var actions: [STPAction] = []
            bridges[message.bridge].receive(message.bpdu, on: message.port, now: now, actions: &actions)
            apply(actions, from: message.bridge)
        }
        for index in bridges.indices {
            var actions: [STPAction] = []
            bridges[index].tick(now: now, actions: &actions)
            apply(actions, from: index)
        }
        if hasForwardingLoop, loopSeenAt == nil { loopSeenAt = now }
    }

    private func apply(_ actions: [STPAction], from bridge: Int) {
        for action in actions {
            guard case .transmit(let port, let bpdu) = action else {
                effects.append((bridge, action))
                continue
            }
            transmittedBPDUs += 1
            // Encode and parse, as on the wire.
            var frame: [UInt8] = []
            bpdu.encodeFrame(source: bridges[bridge].bridgeAddress, into: &frame)
            guard let parsed = try? BPDU(frame: frame.span) else { preconditionFailure("unparseable BPDU") }
            trace?(bridge, port, parsed)
            for link in links where !silenced.contains(link) {
                if link.a == bridge, link.portA == port { inFlight.append((link.b, link.portB, parsed)) }
                if link.b == bridge, link.portB == port { inFlight.append((link.a, link.portA, parsed)) }
            }
        }
    }

    private func nextPort(_ bridge: Int) -> Int {
        (bridges[bridge].ports.keys.max() ?? 0) + 1
    }

    /// Links on which both ends forward (a silenced link carries nothing, so it is none).
    public var forwardingLinks: [Link] {
        links.filter { !silenced.contains($0) && bridges[$0.a].state(of: $0.portA).forwards && bridges[$0.b].state(of: $0.portB).forwards }
    }

    /// A cycle among forwarding links (union-find).
    public var hasForwardingLoop: Bool {
        var parent = Array(bridges.indices)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { x = parent[x] }
            return x
        }
        for link in forwardingLinks {
            let (ra, rb) = (find(link.a), find(link.b))
            if ra == rb { return true }
            parent[ra] = rb
        }
        return false
    }

    /// Every pair of bridges connected by cables is connected by forwarding links, without a loop.
    public var isSpanningForest: Bool {
        !hasForwardingLoop && components(of: links.filter { !silenced.contains($0) }) == components(of: forwardingLinks)
    }

    private func components(of links: [Link]) -> [Int] {
        var parent = Array(bridges.indices)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { x = parent[x] }
            return x
        }
        for link in links { parent[find(link.a)] = find(link.b) }
        return bridges.indices.map(find)
            .map { root in bridges.indices.first { find($0) == root }! }
    }

    /// The root every bridge believes in.
    public var roots: Set<BridgeID> {
        Set(bridges.map(\.designatedRoot))
    }
}
