import F2FBase
import F2FCore
import Testing

@testable import F2FSecure

/// The friend-link handshake over UDP on virtual time: retransmission, mac1, cookies under
/// load, the friends-only check, and the sessions it ends in.
@Suite struct DatagramHandshakeTests {
    let t0 = Instant(nanoseconds: 1_000_000_000)
    let alice = IdentityKey()
    let bob = IdentityKey()
    let source = HandshakeSource(high: 0, low: 0xC000_0201, port: 4000, isIPv6: false)

    func at(_ milliseconds: Int64) -> Instant { t0 + .milliseconds(milliseconds) }

    func responder(_ limits: DatagramResponder.Limits = .init()) -> DatagramResponder {
        DatagramResponder(identity: bob, networkKey: nil, limits: limits, now: t0)
    }

    func initiator(calling friend: PeerID? = nil, index: UInt32 = 11, from identity: IdentityKey? = nil) throws -> DatagramInitiator {
        try DatagramInitiator(
            identity: identity ?? alice, friend: friend ?? bob.id, networkKey: nil, localIndex: index,
            policy: .init(retryInterval: .milliseconds(250), maximumTries: 4), now: t0)
    }

    func answer(_ responder: inout DatagramResponder, _ datagram: [UInt8], from source: HandshakeSource? = nil, at now: Instant? = nil, index: UInt32 = 77)
        -> DatagramResponder.InitiationOutcome
    {
        datagram.withUnsafeBytes { responder.receiveInitiation($0, from: source ?? self.source, now: now ?? t0, newIndex: { index }) }
    }

    func complete(_ responder: inout DatagramResponder, _ datagram: [UInt8], friends: Set<PeerID>) -> DatagramResponder.CompletionOutcome {
        datagram.withUnsafeBytes { bytes in
            responder.receiveCompletion(bytes) { friends.contains($0) ? nil : "not a friend" }
        }
    }

    /// Both ends' sessions carry a datagram each way.
    func expectSessionsMatch(_ a: NoiseDatagramCipher, _ b: NoiseDatagramCipher) throws {
        var (a, b) = (a, b)
        var datagram: [UInt8] = []
        var plaintext: [UInt8] = []
        _ = try a.seal([1, 2, 3], into: &datagram, sessionAge: .zero)
        let opened = datagram.withUnsafeBytes { b.open($0, plaintext: &plaintext, sessionAge: .zero) }
        #expect((try? opened.get()) == 0)
        #expect(plaintext == [1, 2, 3])
        _ = try b.seal([4], into: &datagram, sessionAge: .zero)
        let back = datagram.withUnsafeBytes { a.open($0, plaintext: &plaintext, sessionAge: .zero) }
        #expect((try? back.get()) == 0)
        #expect(plaintext == [4])
    }

    @Test func threeDatagramsLinkTwoFriendsWithMatchingSessions() throws {
        var calling = try initiator()
        var answering = responder()
        guard case .response(let response) = answer(&answering, calling.initiationDatagram) else {
            Issue.record("no response")
            return
        }
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(10)) }
        guard case .established(let id, let session) = complete(&answering, established.completion, friends: [alice.id]) else {
            Issue.record("not established")
            return
        }
        #expect(id == alice.id)
        #expect(session.localIndex == 77 && session.remoteIndex == 11)
        #expect(established.session.localIndex == 11 && established.session.remoteIndex == 77)
        try expectSessionsMatch(established.session, session)
        #expect(answering.pendingCount == 0)
        #expect(answering.counters.established == 1)
    }

    @Test func aLostInitiationIsResentOnTheTimerAndALostResponseIsAnsweredAgainWithoutNewWork() throws {
        var calling = try initiator()
        var answering = responder()
        let first = calling.initiationDatagram
        #expect(calling.tick(now: at(249)) == nil, "not due yet")
        let resentSent = calling.tick(now: at(250))
        let resent = try #require(resentSent)
        #expect(resent == first, "the same message 1, so a responder that saw it answers the same")
        // The first initiation was lost; the resent one is answered, and that answer lost too.
        guard case .response(let lost) = answer(&answering, resent, at: at(251)) else {
            Issue.record("no response")
            return
        }
        let againSent = calling.tick(now: at(500))
        let again = try #require(againSent)
        guard case .response(let response) = answer(&answering, again, at: at(501)) else {
            Issue.record("no response to the duplicate")
            return
        }
        #expect(response == lost, "the stored response: no second Diffie-Hellman")
        #expect(answering.counters.responses == 1 && answering.counters.duplicateInitiations == 1)
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(510)) }
        #expect(calling.isEstablished)
        guard case .established = complete(&answering, established.completion, friends: [alice.id]) else {
            Issue.record("not established")
            return
        }
    }

    @Test func anInitiatorGivesUpAfterItsTries() throws {
        var calling = try initiator()
        var resends = 0
        for step in 1...10 where calling.tick(now: at(Int64(step) * 250)) != nil { resends += 1 }
        #expect(resends == 3, "four tries in all")
        #expect(calling.failure == .noResponse)
        #expect(calling.nextDeadline == nil)
    }

    @Test func aLostCompletionIsResentUntilTheFriendsFirstTransportDatagram() throws {
        var calling = try initiator()
        var answering = responder()
        guard case .response(let response) = answer(&answering, calling.initiationDatagram) else {
            Issue.record("no response")
            return
        }
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(10)) }
        // Message 3 lost: the responder has no session yet, so it sends nothing.
        let resentSent = calling.tick(now: at(260))
        let resent = try #require(resentSent)
        #expect(resent == established.completion)
        guard case .established = complete(&answering, resent, friends: [alice.id]) else {
            Issue.record("not established")
            return
        }
        calling.confirm()
        #expect(calling.tick(now: at(600)) == nil, "confirmed: nothing more to resend")
        #expect(calling.nextDeadline == nil)
    }

    @Test func anInitiationWithoutOurMAC1CostsOneCheckAndGetsNoAnswer() throws {
        var answering = responder()
        // Someone who does not know bob's key: mac1 keyed with another.
        let stranger = try initiator(calling: IdentityKey().id)
        #expect(answer(&answering, stranger.initiationDatagram) == .dropped)
        var garbage = stranger.initiationDatagram
        garbage[20] ^= 1
        var rng = SeededGenerator(seed: 18)
        for _ in 0..<2000 {
            let count = Int.random(in: 0...200, using: &rng)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if count > 0 { bytes[0] = HandshakeDatagram.initiation }
            if HandshakeDatagram.type(of: bytes.withUnsafeBytes { $0 }) == HandshakeDatagram.initiation {
                #expect(answer(&answering, bytes) == .dropped)
            }
        }
        #expect(answer(&answering, garbage) == .dropped, "a changed bit breaks mac1")
        #expect(answering.counters.responses == 0 && answering.counters.cookieRepliesSent == 0)
        #expect(answering.pendingCount == 0)
        #expect(answering.counters.badMAC1 >= 2)
    }

    @Test func underLoadTheResponderAnswersWithACookieAndOnlyAValidMAC2GetsWork() throws {
        var answering = responder(.init(handshakeRate: 1, handshakeBurst: 1, handshakeRatePerSource: 1, handshakeBurstPerSource: 1))
        let first = try initiator(index: 1, from: IdentityKey())
        guard case .response = answer(&answering, first.initiationDatagram, index: 101) else {
            Issue.record("the first handshake is within the rate")
            return
        }
        // The rate is spent: under load.
        var calling = try initiator(index: 2)
        guard case .cookieReply(let reply) = answer(&answering, calling.initiationDatagram, at: at(1), index: 102) else {
            Issue.record("under load: a cookie, no Diffie-Hellman")
            return
        }
        #expect(reply.count < calling.initiationDatagram.count, "no amplification")
        #expect(answering.pendingCount == 1)
        let withMAC2Sent = reply.withUnsafeBytes { calling.receiveCookieReply($0, now: at(2)) }
        let withMAC2 = try #require(withMAC2Sent)
        // The same mac2 from another address (a spoofer replaying it) is worth nothing.
        let elsewhere = HandshakeSource(high: 0, low: 0xC000_0202, port: 4000, isIPv6: false)
        guard case .cookieReply = answer(&answering, withMAC2, from: elsewhere, at: at(3), index: 103) else {
            Issue.record("a cookie is bound to its address")
            return
        }
        guard case .response(let response) = answer(&answering, withMAC2, at: at(4), index: 104) else {
            Issue.record("a valid mac2 gets its handshake under load")
            return
        }
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(5)) }
        guard case .established(let id, _) = complete(&answering, established.completion, friends: [alice.id]) else {
            Issue.record("not established")
            return
        }
        #expect(id == alice.id)
        #expect(answering.counters.cookieRepliesSent == 2)
        // Within the per-source budget only: a second valid mac2 from the same address is refused.
        var third = try initiator(index: 3)
        guard case .cookieReply(let reply3) = answer(&answering, third.initiationDatagram, at: at(6), index: 105) else {
            Issue.record("still under load")
            return
        }
        let mac2AgainSent = reply3.withUnsafeBytes { third.receiveCookieReply($0, now: at(7)) }
        let mac2Again = try #require(mac2AgainSent)
        #expect(answer(&answering, mac2Again, at: at(8), index: 106) == .dropped)
        #expect(answering.counters.rateLimited == 1)
    }

    @Test func aCookieReplyForAnotherInitiationDoesNotOpen() throws {
        var answering = responder(.init(handshakeRate: 1, handshakeBurst: 1))
        _ = answer(&answering, try initiator(index: 1).initiationDatagram)
        let other = try initiator(index: 2)
        guard case .cookieReply(let reply) = answer(&answering, other.initiationDatagram, at: at(1)) else {
            Issue.record("under load")
            return
        }
        var mine = try initiator(index: 2)
        #expect(reply.withUnsafeBytes { mine.receiveCookieReply($0, now: at(2)) } == nil, "sealed to the other initiation's mac1")
    }

    @Test func aStrangerWhoKnowsOurKeyIsRefusedAfterMessage3() throws {
        let mallory = IdentityKey()
        var calling = try initiator(from: mallory)
        var answering = responder()
        guard case .response(let response) = answer(&answering, calling.initiationDatagram) else {
            Issue.record("mac1 passes: mallory knows bob's key")
            return
        }
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(1)) }
        guard case .refused(let id, _) = complete(&answering, established.completion, friends: [alice.id]) else {
            Issue.record("friends only")
            return
        }
        #expect(id == mallory.id)
        #expect(answering.counters.refused == 1 && answering.counters.established == 0)
    }

    @Test func theInitiatorRefusesAResponderThatIsNotTheFriendItCalled() throws {
        // carol answers an initiation meant for bob (she learnt bob's mac1 key: it is public).
        let carol = IdentityKey()
        var calling = try initiator()
        var impostor = DatagramResponder(identity: carol, networkKey: nil, now: t0)
        // Re-MAC the initiation for carol's key so that she answers at all.
        var forCarol = calling.initiationDatagram
        let mac1Start = forCarol.count - 32
        forCarol.withUnsafeMutableBytes { raw in
            HandshakeMAC(responder: carol.id).mac1(
                over: UnsafeRawBufferPointer(rebasing: raw[..<mac1Start]), into: UnsafeMutableRawBufferPointer(rebasing: raw[mac1Start..<(mac1Start + 16)]))
        }
        guard case .response(let response) = answer(&impostor, forCarol) else {
            Issue.record("carol answers")
            return
        }
        #expect(throws: DatagramInitiator.Failure.wrongResponder) {
            _ = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(1)) }
        }
        #expect(!calling.isEstablished)
    }

    @Test func aForgedCompletionLeavesThePendingHandshakeForTheGenuineOne() throws {
        var calling = try initiator()
        var answering = responder()
        guard case .response(let response) = answer(&answering, calling.initiationDatagram) else {
            Issue.record("no response")
            return
        }
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(1)) }
        var forged = established.completion
        forged[forged.count - 1] ^= 0x80
        guard case .dropped = complete(&answering, forged, friends: [alice.id]) else {
            Issue.record("forged message 3 accepted")
            return
        }
        guard case .established = complete(&answering, established.completion, friends: [alice.id]) else {
            Issue.record("the genuine message 3 after a forged one")
            return
        }
    }

    @Test func pendingHandshakesAreBoundedAndExpire() throws {
        var answering = responder(.init(maximumPending: 2, pendingTimeout: .seconds(5)))
        for index in UInt32(1)...3 {
            _ = answer(&answering, try initiator(index: index).initiationDatagram, at: at(Int64(index)), index: 100 + index)
        }
        #expect(answering.pendingCount == 2)
        #expect(answering.counters.pendingEvicted == 1)
        #expect(!answering.isPending(101), "the oldest gave way")
        #expect(answering.expire(now: at(5003)).sorted() == [102, 103])
        #expect(answering.pendingCount == 0)
    }

    @Test func aPunchCostsOneMACCheckAndNeedsOurKey() {
        var answering = responder()
        let punch = HandshakeDatagram.makePunch(for: HandshakeMAC(responder: bob.id))
        let foreign = HandshakeDatagram.makePunch(for: HandshakeMAC(responder: alice.id))
        #expect(punch.withUnsafeBytes { HandshakeDatagram.type(of: $0) } == HandshakeDatagram.punch)
        #expect(punch.withUnsafeBytes { answering.receivePunch($0) })
        #expect(!foreign.withUnsafeBytes { answering.receivePunch($0) })
        #expect(answering.counters.punches == 1 && answering.counters.badMAC1 == 1)
    }

    @Test func aNetworkKeyHandshakeWorksOverDatagramsToo() throws {
        let key = NetworkKey()
        var calling = try DatagramInitiator(identity: alice, friend: bob.id, networkKey: key, localIndex: 5, now: t0)
        var answering = DatagramResponder(identity: bob, networkKey: key, now: t0)
        guard case .response(let response) = answer(&answering, calling.initiationDatagram) else {
            Issue.record("no response")
            return
        }
        let established = try response.withUnsafeBytes { try calling.receiveResponse($0, now: at(1)) }
        guard case .established(_, let session) = complete(&answering, established.completion, friends: [alice.id]) else {
            Issue.record("not established")
            return
        }
        try expectSessionsMatch(established.session, session)
        var outsider = DatagramResponder(identity: bob, networkKey: NetworkKey(), now: t0)
        #expect(answer(&outsider, calling.initiationDatagram) == .dropped, "another network's key: no message 2")
    }
}
