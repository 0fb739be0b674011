import EthernetSwitch
import F2FBase
import F2FCore
import F2FTesting
import Logging
import SwitchRuntime
import Testing

/// Three nodes on virtual time, each an engine with the rapid spanning tree, an F2F node, its
/// peer ports and a mesh router, linked A–B, B–C, A–C over connection pairs, A the root (so
/// the tree blocks B–C): adverts flood, routes form, and a frame from B's client for C's
/// station goes over the blocked B–C link as a routed packet and out of C's client port.
@Suite struct MeshRouterTests {
    final class Node {
        let engine: SwitchEngine
        let node: F2FNode
        let peerPorts: PeerPorts
        let router: MeshRouter
        let client: RecordingLink

        init(id: UInt64, priority: UInt16, loop: ManualEventLoop) {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            var treeConfiguration = SpanningTreeConfiguration()
            treeConfiguration.priority = priority
            let tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0100 + id), configuration: treeConfiguration)
            engine = SwitchEngine(
                configuration: SwitchConfiguration(portCount: 8), spanningTree: tree, loop: loop, logger: logger, burstQueueCapacity: 8)
            node = F2FNode(nodeID: id, name: "n\(id)", logger: logger) { loop.now }
            peerPorts = PeerPorts(engine: engine, node: node)
            router = MeshRouter(engine: engine, node: node, peerPorts: peerPorts, logger: logger)
            client = RecordingLink("client \(id)", id: Int(id))
            engine.attach(client, port: 7)
            loop.scheduleRepeating(every: .milliseconds(50)) { [engine] in engine.tick() }
        }
    }

    let loop = ManualEventLoop()
    let a: Node
    let b: Node
    let c: Node
    let pairs: [(ConnectionPair, Node, Node)]

    init() {
        a = Node(id: 0xA, priority: 4096, loop: loop)
        b = Node(id: 0xB, priority: 32768, loop: loop)
        c = Node(id: 0xC, priority: 32768, loop: loop)
        pairs = [(ConnectionPair(), a, b), (ConnectionPair(), b, c), (ConnectionPair(), a, c)]
        for (pair, dialer, acceptor) in pairs {
            pair.connect(dialer: dialer.node, acceptor: acceptor.node)
        }
        settle()
    }

    /// Carries every pending byte and deferred work until nothing moves.
    func settle(rounds: Int = 20) {
        for _ in 0..<rounds {
            loop.runAfterDispatch()
            for (pair, _, _) in pairs { pair.pump() }
        }
    }

    func advance(by duration: Duration) {
        loop.advance(by: duration)
        settle()
    }

    static func frame(from source: UInt64, to destination: UInt64) -> [UInt8] {
        EngineOnManualLoopTests.frame(from: source, to: destination)
    }

    func send(_ frame: [UInt8], from node: Node) {
        frame.withUnsafeBytes { node.engine.receive($0, from: 7) }
        settle()
    }

    @Test func advertsFloodAndEveryNodeReachesTheOthersDirectly() {
        advance(by: .milliseconds(300))
        for node in [a, b, c] {
            #expect(node.router.database.adverts.count == 3)
            let others = [a, b, c].filter { $0 !== node }.map(\.router.ownID)
            for other in others {
                #expect(node.router.routes.nextHop[other] == other, "\(node.router.ownID) to \(other)")
            }
        }
    }

    @Test func aFrameForAnotherNodesStationIsRoutedToItAndDeliveredThere() {
        advance(by: .seconds(1))
        let blocked = [b, c].flatMap { node in node.engine.core.ports.indices.filter { node.engine.core.ports[$0].isActive && !node.engine.core.ports[$0].state.forwards } }
        #expect(blocked.count == 1, "the tree blocks the B–C link")
        let stationB: UInt64 = 0x0200_0000_000B
        let stationC: UInt64 = 0x0200_0000_000C
        // C's station speaks (a broadcast, on the tree): C learns it and advertises it.
        let broadcast = Self.frame(from: stationC, to: 0xFFFF_FFFF_FFFF)
        send(broadcast, from: c)
        #expect(b.client.flushed.filter { $0 == broadcast }.count == 1)
        #expect(a.client.flushed.filter { $0 == broadcast }.count == 1)
        advance(by: .milliseconds(300))
        #expect(b.router.routes.owners[MeshAdvert.stationKey(MACAddress(rawValue: stationC), vlanID: 0)] == 0xC)
        let flushedAtA = a.client.flushed.count

        let unicast = Self.frame(from: stationB, to: stationC)
        send(unicast, from: b)
        #expect(c.client.flushed.last == unicast)
        #expect(b.engine.meshCounters.routed == 1)
        #expect(c.engine.meshCounters.delivered == 1)
        #expect(a.engine.meshCounters.relayed == 0)
        #expect(a.client.flushed.count == flushedAtA, "A's client saw nothing of it")

        // The B–C link goes: the next frame goes through A.
        pairs[1].0.a.signalClosed()
        settle()
        advance(by: .milliseconds(300))
        #expect(b.router.routes.path(to: 0xC) == [0xB, 0xA, 0xC])
        send(unicast, from: b)
        #expect(a.engine.meshCounters.relayed == 1)
        #expect(c.engine.meshCounters.delivered == 2)
        #expect(c.client.flushed.last == unicast)
        #expect(a.client.flushed.count == flushedAtA)
    }

    @Test func aPinnedCostMovesTheRoute() {
        advance(by: .milliseconds(300))
        guard let towardsC = a.node.peers.values.first(where: { $0.remote?.nodeID == 0xC }),
            let towardsA = c.node.peers.values.first(where: { $0.remote?.nodeID == 0xA })
        else {
            Issue.record("A and C are not linked")
            return
        }
        #expect(a.router.pinCost(1000, peerID: towardsC.id))
        #expect(c.router.pinCost(1000, peerID: towardsA.id))
        advance(by: .milliseconds(300))
        #expect(a.router.routes.path(to: 0xC) == [0xA, 0xB, 0xC])
        #expect(c.router.routes.path(to: 0xA) == [0xC, 0xB, 0xA])
    }
}
