import F2FBase
import F2FCore
import F2FTesting
import Testing

@Suite struct PeerHandshakeTests {
    @Test func handshakeCompletesOnBothSides() throws {
        let link = LinkedNodes()
        #expect(link.alphaPeer.state == .established)
        #expect(link.betaPeer.state == .established)
        #expect(link.alphaListener.events == [.connected])
        #expect(link.betaListener.events == [.connected])
        #expect(link.alphaPeer.remote == Hello(nodeID: 0xBE7A, name: "beta"))
        #expect(link.betaPeer.remote == Hello(nodeID: 0xA1FA, name: "alpha"))
        #expect(link.alphaPeer.isOutbound)
        #expect(!link.betaPeer.isOutbound)
        #expect(link.alphaPeer.displayName == "beta@pair-b")
        #expect(link.alpha.establishedPeers.map(\.id) == [link.alphaPeer.id])
        #expect(link.beta.establishedPeers.map(\.id) == [link.betaPeer.id])
        #expect(link.alphaPeer.establishedAt == link.world.clock.now)
        // Each side sent exactly its hello, framed.
        #expect(link.pair.a.written == PacketBytes.hello(link.alpha.localHello))
        #expect(link.pair.b.written == PacketBytes.hello(link.beta.localHello))
        #expect(link.alphaPeer.counters.packetsIn == 1)
        #expect(link.alphaPeer.counters.packetsOut == 1)
        #expect(link.pair.isQuiescent)
        #expect(link.world.log.records("peer connected").count == 2)
    }

    @Test func anOutboundPeerWaitsForTheConnectionBeforeItsHello() {
        let world = World()
        let alpha = world.makeNode("alpha", id: 1)
        let pair = ConnectionPair()
        let peer = alpha.addOutbound(pair.a)
        #expect(peer.state == .connecting)
        #expect(pair.a.written.isEmpty)
        #expect(pair.a.interests.isEmpty)
        pair.a.establish()
        #expect(peer.state == .handshaking)
        #expect(pair.a.written == PacketBytes.hello(alpha.localHello))
        #expect(pair.a.interest.contains(.readable))
    }

    @Test func theHandshakeSurvivesOneByteWrites() {
        let link = LinkedNodes(connect: false)
        link.pair.a.writeCapacity = 1
        link.pair.b.writeCapacity = 1
        link.pair.a.bufferLimit = 2
        link.pair.b.bufferLimit = 2
        link.connect()
        #expect(link.alphaListener.events == [.connected])
        #expect(link.betaListener.events == [.connected])
        link.sendFromAlpha(payload: Array(0..<100))
        #expect(link.betaListener.entries.packetPayloads == [Array(0..<100)])
    }

    @Test func listenersAreCalledInRegistrationOrderWithTheirContext() throws {
        let link = LinkedNodes(connect: false)
        let journal = RecordingListener.Journal()
        let contexts = [Context(), Context(), Context()]
        let listeners = (0..<3).map { RecordingListener(name: "L\($0)", journal: journal, expectedContext: contexts[$0]) }
        for (listener, context) in zip(listeners, contexts) {
            link.beta.addListener(listener, context: context)
        }
        link.connect()
        link.sendFromAlpha(payload: [1, 2, 3])

        #expect(journal.entries.map(\.listener) == ["L0", "L1", "L2", "L0", "L1", "L2"])
        #expect(journal.entries.map(\.event) == [.connected, .connected, .connected, .packet(.ethernetFrame), .packet(.ethernetFrame), .packet(.ethernetFrame)])
        #expect(journal.entries.allSatisfy { $0.contextMatched })
        #expect(journal.packets.map(\.payload) == [[1, 2, 3], [1, 2, 3], [1, 2, 3]])
        // Nobody claimed it (the recording listener registered first ignores everything too).
        #expect(link.betaPeer.counters.unclaimedDropped == 1)
    }

    @Test func aClaimStopsTheOffer() {
        let link = LinkedNodes(connect: false)
        let journal = RecordingListener.Journal()
        let first = RecordingListener(name: "first", journal: journal)
        let second = RecordingListener(name: "second", journal: journal)
        let third = RecordingListener(name: "third", journal: journal)
        second.verdict = { type, _ in type == .ethernetFrame ? .claimed : .ignored }
        for listener in [first, second, third] { link.beta.addListener(listener) }
        link.connect()
        journal.removeAll()

        link.sendFromAlpha(payload: [1])
        #expect(journal.entries.map(\.listener) == ["first", "second"])
        #expect(link.betaPeer.counters.unclaimedDropped == 0)

        journal.removeAll()
        link.sendFromAlpha(.bpdu, payload: [2])
        #expect(journal.entries.map(\.listener) == ["first", "second", "third"])
        #expect(link.betaPeer.counters.unclaimedDropped == 1)
    }

    @Test func removedListenersHearNothingMore() {
        let link = LinkedNodes(connect: false)
        let journal = RecordingListener.Journal()
        let kept = RecordingListener(name: "kept", journal: journal)
        let removed = RecordingListener(name: "removed", journal: journal)
        link.beta.addListener(kept)
        let token = link.beta.addListener(removed)
        link.connect()
        link.beta.removeListener(token)
        link.sendFromAlpha(payload: [1])
        link.alphaPeer.close(reason: "test over")
        link.pair.pump()
        #expect(removed.events == [.connected])
        #expect(kept.events == [.connected, .packet(.ethernetFrame), .disconnected(reason: "closed by the other side")])
    }

    @Test func unclaimedPacketsAreDroppedAndCounted() {
        let link = LinkedNodes()
        link.sendFromAlpha(payload: [1])
        link.sendFromAlpha(F2FPacketType(rawValue: 0x77), payload: [])
        #expect(link.betaPeer.counters.unclaimedDropped == 2)
        #expect(link.betaPeer.counters.packetsIn == 3)  // hello + two
        #expect(link.betaPeer.counters.bytesIn == UInt64(3 + 13 + 5) + 4 + 3)
        #expect(link.betaPeer.state == .established)
        #expect(link.betaListener.entries.packetPayloads == [[1], []])
    }

    @Test func aDeferredPacketStopsReadingUntilResumed() throws {
        let link = LinkedNodes()
        var holding = true
        link.betaListener.verdict = { _, _ in holding ? .deferred : .claimed }
        link.alphaBulk.enqueue(.ethernetFrame, payload: [1, 1, 1])
        link.alphaBulk.enqueue(.ethernetFrame, payload: [2, 2])
        link.alphaPeer.pumpOutbound()
        link.pair.pump()

        #expect(link.betaListener.entries.packetPayloads == [[1, 1, 1]])
        #expect(!link.pair.b.interest.contains(.readable))
        #expect(link.pair.b.unreadCount == 5)  // the second frame waits in the connection
        #expect(link.pair.isQuiescent)

        // Still not ready: offered again, deferred again, still not reading.
        link.betaPeer.resumeReading()
        #expect(link.betaListener.entries.packetPayloads == [[1, 1, 1], [1, 1, 1]])
        #expect(link.pair.b.unreadCount == 5)
        #expect(!link.pair.b.interest.contains(.readable))

        holding = false
        let reconfiguresBefore = link.pair.b.interests.count
        link.betaPeer.resumeReading()
        #expect(link.betaListener.entries.packetPayloads == [[1, 1, 1], [1, 1, 1], [1, 1, 1], [2, 2]])
        #expect(link.pair.b.interests.count > reconfiguresBefore)
        #expect(link.pair.b.interest.contains(.readable))
        #expect(link.pair.b.unreadCount == 0)
        #expect(link.betaPeer.counters.unclaimedDropped == 0)

        // Nothing held: resuming is a no-op.
        link.betaPeer.resumeReading()
        #expect(link.betaListener.entries.packetPayloads.count == 4)
    }

    @Test func aDeferredPacketThenIgnoredIsCountedAsDropped() {
        let link = LinkedNodes()
        var verdict = ListenerVerdict.deferred
        link.betaListener.verdict = { _, _ in verdict }
        link.sendFromAlpha(payload: [1])
        verdict = .ignored
        link.betaPeer.resumeReading()
        #expect(link.betaPeer.counters.unclaimedDropped == 1)
        #expect(link.pair.b.interest.contains(.readable))
    }
}

private final class Context {}

@Suite struct NodeAdmissionTests {
    @Test func aNodeDiallingItselfRefusesTheLink() {
        let world = World()
        let node = world.makeNode("solo", id: 5)
        let listener = RecordingListener(name: "solo")
        node.addListener(listener)
        let pair = ConnectionPair()
        pair.connect(dialer: node, acceptor: node)
        #expect(node.peers.isEmpty)
        #expect(world.reasons(of: "solo") == ["refused: connected to itself", "refused: connected to itself"])
        #expect(listener.events.isEmpty)
        #expect(PacketBytes.split(pair.a.written).packets.map(\.type) == [.hello, .reject])
    }

    @Test func aSecondLinkBetweenTheSameNodesIsRefusedQuietly() throws {
        let link = LinkedNodes()  // alpha (lower id) dialled beta: this link stays
        let second = ConnectionPair()
        second.connect(dialer: link.beta, acceptor: link.alpha)

        let reason = "refused: duplicate link to node"
        #expect(link.world.reasons(of: "alpha").count == 1)
        #expect(link.world.reasons(of: "alpha").allSatisfy { $0.hasPrefix(reason) })
        #expect(link.world.reasons(of: "beta").allSatisfy { $0.hasPrefix("refused") })
        #expect(second.a.isClosed && second.b.isClosed)
        #expect(link.alpha.establishedPeers.map(\.id) == [link.alphaPeer.id])
        #expect(link.beta.establishedPeers.map(\.id) == [link.betaPeer.id])
        // A routine duplicate is not logged as misbehaviour.
        #expect(link.world.log.records("refusing peer").allSatisfy { $0.level == .debug })
        // The kept link still works.
        link.sendFromAlpha(payload: [42])
        #expect(link.betaListener.entries.packetPayloads == [[42]])
    }

    @Test func theLinkTheLowerIDDialledReplacesAnEarlierOne() throws {
        let link = LinkedNodes(connect: false)
        // Beta (higher id) dials first and its link comes up.
        let early = ConnectionPair()
        let (betaDialled, alphaAccepted) = early.connect(dialer: link.beta, acceptor: link.alpha)
        #expect(betaDialled.state == .established)
        #expect(alphaAccepted.state == .established)
        // Then alpha's own dial completes: both sides keep alpha's link and drop beta's.
        link.connect()
        early.pump()

        #expect(link.alphaPeer.state == .established)
        #expect(link.betaPeer.state == .established)
        #expect(betaDialled.state == .closed)
        #expect(alphaAccepted.state == .closed)
        #expect(link.world.reasons(of: "alpha").contains("replaced by a duplicate link"))
        #expect(link.alpha.establishedPeers.map(\.id) == [link.alphaPeer.id])
        #expect(link.beta.establishedPeers.map(\.id) == [link.betaPeer.id])
        #expect(link.alphaListener.events.filter { $0 == .connected }.count == 2)
        #expect(link.alphaListener.events.contains(.disconnected(reason: "replaced by a duplicate link")))
    }

    /// The closed state keeps who the peer was, for the log lines and console output after it.
    @Test func aClosedPeerKeepsItsHelloAndWhenItWasEstablished() {
        let link = LinkedNodes()
        let since = link.world.clock.now
        link.world.clock.advance(by: .seconds(5))
        link.alphaPeer.close(reason: "test")
        #expect(link.alphaPeer.state == .closed)
        #expect(link.alphaPeer.remote == Hello(nodeID: 0xBE7A, name: "beta"))
        #expect(link.alphaPeer.establishedAt == since)
        #expect(link.alphaPeer.displayName == "beta@pair-b")
    }

    /// A peer closed during the handshake never had a hello or an established time.
    @Test func aPeerClosedBeforeItsHelloHasNoRemote() {
        let world = World()
        let alpha = world.makeNode("alpha", id: 1)
        let pair = ConnectionPair()
        let peer = alpha.addOutbound(pair.a)
        pair.a.establish()
        #expect(peer.state == .handshaking)
        peer.close(reason: "test")
        #expect(peer.state == .closed)
        #expect(peer.remote == nil && peer.establishedAt == nil)
        #expect(peer.displayName == "pair-b")
    }
}
