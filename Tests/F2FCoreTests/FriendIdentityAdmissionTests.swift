import F2FBase
import F2FCore
import F2FTesting
import Testing

/// One link per authenticated key: the node id a hello claims neither opens a second link for a
/// friend nor closes another friend's link.
@Suite struct FriendIdentityAdmissionTests {
    /// Keys whose node ids order hub < beta < gamma.
    let hubKey = AuthenticatedIdentity(publicKey: Array(repeating: 0x10, count: 32))
    let betaKey = AuthenticatedIdentity(publicKey: Array(repeating: 0x20, count: 32))
    let gammaKey = AuthenticatedIdentity(publicKey: Array(repeating: 0x30, count: 32))

    /// `dialer` (proved to hold `dialerKey`) dials `acceptor` (proved to hold `acceptorKey`).
    @discardableResult
    func link(_ dialer: F2FNode, as dialerKey: AuthenticatedIdentity, to acceptor: F2FNode, as acceptorKey: AuthenticatedIdentity) -> ConnectionPair {
        let pair = ConnectionPair()
        pair.a.authenticatedIdentity = acceptorKey
        pair.b.authenticatedIdentity = dialerKey
        pair.connect(dialer: dialer, acceptor: acceptor)
        return pair
    }

    @Test func aNodeIDIsTheFirstEightBytesOfItsKey() {
        let key = AuthenticatedIdentity(publicKey: [1, 2, 3, 4, 5, 6, 7, 8] + Array(repeating: 0xFF, count: 24))
        #expect(key.nodeID == 0x0102_0304_0506_0708)
        #expect(hubKey.nodeID < betaKey.nodeID && betaKey.nodeID < gammaKey.nodeID)
    }

    @Test func aHelloClaimingAnotherFriendsNodeIDIsRefusedAndThatFriendKeepsItsLink() throws {
        let world = World()
        let hub = world.makeNode("hub", id: hubKey.nodeID)
        let beta = world.makeNode("beta", id: betaKey.nodeID)
        // Gamma authenticates with its own key but says hello with beta's node id.
        let gamma = world.makeNode("gamma", id: betaKey.nodeID)
        let real = link(beta, as: betaKey, to: hub, as: hubKey)
        let betaOnHub = try #require(hub.peer(on: real.b))
        #expect(betaOnHub.state == .established)

        let forged = link(gamma, as: gammaKey, to: hub, as: hubKey)
        real.pump()

        #expect(hub.establishedPeers.map(\.id) == [betaOnHub.id])
        #expect(betaOnHub.state == .established)
        #expect(forged.b.isClosed)
        #expect(gamma.establishedPeers.isEmpty)
        #expect(hub.admissionCounters.forgedNodeIDs == 1)
        let claim = "hello claims node id \(String(betaKey.nodeID, radix: 16))"
        let refusal = try #require(world.log.records("refusing peer").first { $0.metadata["reason"]?.hasPrefix(claim) == true })
        #expect(refusal.level == .warning, "claiming another node's id is misbehaviour")
    }

    /// Processes sharing one key file, or one friend redialling over and over: the link already
    /// up stays, every later one is refused, whichever node ids the hellos claim.
    @Test(arguments: [true, false])
    func manyLinksFromOneFriendsKeyKeepTheFirst(honestIDs: Bool) throws {
        let world = World()
        let hub = world.makeNode("hub", id: hubKey.nodeID)
        var pairs: [ConnectionPair] = []
        for index in 0..<5 {
            let claimed = honestIDs ? betaKey.nodeID : betaKey.nodeID &+ UInt64(index)
            let process = world.makeNode("beta\(index)", id: claimed)
            pairs.append(link(process, as: betaKey, to: hub, as: hubKey))
        }
        for pair in pairs { pair.pump() }

        let first = try #require(hub.peer(on: pairs[0].b))
        #expect(hub.establishedPeers.map(\.id) == [first.id])
        #expect(pairs.dropFirst().allSatisfy { $0.b.isClosed })
        #expect(!world.reasons(of: "hub").contains("replaced by a duplicate link"))
        #expect(hub.admissionCounters.duplicateLinks == (honestIDs ? 4 : 0))
        #expect(hub.admissionCounters.forgedNodeIDs == (honestIDs ? 0 : 4))
    }

    @Test func whenBothEndsDialTheLinkTheLowerIDDialledStays() throws {
        let world = World()
        let hub = world.makeNode("hub", id: hubKey.nodeID)
        let beta = world.makeNode("beta", id: betaKey.nodeID)
        let fromBeta = link(beta, as: betaKey, to: hub, as: hubKey)
        let fromHub = link(hub, as: hubKey, to: beta, as: betaKey)
        fromBeta.pump()
        fromHub.pump()
        let kept = try #require(hub.peer(on: fromHub.a))
        #expect(hub.establishedPeers.map(\.id) == [kept.id])
        #expect(beta.establishedPeers.count == 1)
        #expect(beta.peer(on: fromHub.b)?.state == .established)
        #expect(fromBeta.a.isClosed && fromBeta.b.isClosed)
    }
}
