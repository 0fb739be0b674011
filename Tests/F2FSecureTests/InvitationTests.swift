import F2FBase
import F2FCore
import Testing

@testable import F2FSecure

@Suite struct InvitationTests {
    let inviter = IdentityKey().id

    @Test func aLinkRoundTrips() throws {
        let invitation = Invitation.make(inviter: inviter, addresses: ["192.0.2.1:7000", "[2001:db8::1]:7000"])
        let link = invitation.link
        #expect(link.hasPrefix("f2f://invite/" + inviter.checkedDescription + "/"))
        #expect(Invitation(link: link) == invitation)
        #expect(Invitation(link: " " + link + "\n") == invitation, "pasted with the line end")
        #expect(invitation.secret.count == Invitation.secretCount)
        #expect(Invitation.make(inviter: inviter, addresses: ["h:1"]).secret != invitation.secret, "a fresh secret each time")
    }

    @Test func aDamagedLinkIsRefused() throws {
        let link = Invitation.make(inviter: inviter, addresses: ["192.0.2.1:7000"]).link
        var typo = Array(link)
        let idStart = Invitation.linkPrefix.count
        typo[idStart + 2] = typo[idStart + 2] == "A" ? "B" : "A"
        #expect(Invitation(link: String(typo)) == nil, "a mistyped id fails its check")
        #expect(Invitation(link: String(link.dropLast(link.count - link.lastIndex(of: "/")!.utf16Offset(in: link) - 1))) == nil, "no address")
        #expect(Invitation(link: link.replacingOccurrences(of: "f2f://invite/", with: "f2f://other/")) == nil)
        let parts = link.split(separator: "/")
        let shortSecret = link.replacingOccurrences(of: "/" + parts[3] + "/", with: "/" + parts[3].dropLast(2) + "/")
        #expect(Invitation(link: shortSecret) == nil)
    }

    @Test func aProofVerifiesOnlyWithItsSecretAndHandshake() {
        let secret = Invitation.make(inviter: inviter, addresses: ["h:1"]).secret
        let hash = Array(repeating: UInt8(7), count: 32)
        let proof = Invitation.proof(secret: secret, handshakeHash: hash)
        #expect(proof.count == Invitation.proofCount)
        #expect(Invitation.verify(proof, secret: secret, handshakeHash: hash))
        #expect(!Invitation.verify(proof, secret: Array(repeating: 1, count: 16), handshakeHash: hash), "another secret")
        #expect(!Invitation.verify(proof, secret: secret, handshakeHash: Array(repeating: 8, count: 32)), "another handshake: no replay")
        var flipped = proof
        flipped[5] ^= 1
        #expect(!Invitation.verify(flipped, secret: secret, handshakeHash: hash))
        #expect(!Invitation.verify(Array(proof.dropLast()), secret: secret, handshakeHash: hash))
    }

    @Test func theLedgerAdmitsOnceAndNotAfterExpiryOnVirtualTime() {
        let secret = Array(repeating: UInt8(3), count: 16)
        let hash = Array(repeating: UInt8(9), count: 32)
        let proof = Invitation.proof(secret: secret, handshakeHash: hash)
        var ledger = InvitationLedger()
        ledger.add(.init(secret: secret, expires: 1000 + 3600), now: 1000)

        var reloaded = InvitationLedger(parsing: ledger.encoded)
        #expect(reloaded == ledger, "the file form round-trips")
        #expect((try? reloaded.redeem(proof: proof, handshakeHash: hash, now: 1000 + 3599).get()) != nil)
        #expect(reloaded.redeem(proof: proof, handshakeHash: hash, now: 1000 + 3599) == .failure(.unknown), "used up")

        var late = ledger
        #expect(late.redeem(proof: proof, handshakeHash: hash, now: 1000 + 3600) == .failure(.expired))
        #expect(late.entries.isEmpty, "an expired invitation is forgotten once presented")

        var wrong = ledger
        let forged = Invitation.proof(secret: Array(repeating: 4, count: 16), handshakeHash: hash)
        #expect(wrong.redeem(proof: forged, handshakeHash: hash, now: 1000) == .failure(.unknown))
        #expect(wrong == ledger, "a wrong secret uses nothing up")
    }

    @Test func theLedgerDropsExpiredEntriesAndStaysBounded() {
        var ledger = InvitationLedger()
        ledger.add(.init(secret: Array(repeating: 1, count: 16), expires: 10), now: 0)
        ledger.add(.init(secret: Array(repeating: 2, count: 16), expires: 100), now: 20)
        #expect(ledger.entries.map(\.expires) == [100])
        for index in 0..<(InvitationLedger.capacity + 5) {
            ledger.add(.init(secret: Array(repeating: UInt8(index), count: 16), expires: 1000), now: 30)
        }
        #expect(ledger.entries.count == InvitationLedger.capacity)
        #expect(InvitationLedger(parsing: "# comment\ninvitation nonsense 5\ninvitation \(Base32.encode(Array(repeating: 1, count: 16))) x\n").entries.isEmpty)
    }

    @Test func aStrangerWithAValidProofBecomesAFriendOnce() {
        let own = IdentityKey().id
        let stranger = IdentityKey().id
        let friends = FriendList()
        var admission = FriendAdmission(
            ownID: own, friends: friends,
            limits: .init(maxPeers: 8, handshakeRate: 10, handshakeBurst: 10, handshakeRatePerSource: 5, handshakeBurstPerSource: 10),
            now: Instant(nanoseconds: 0))
        let secret = Array(repeating: UInt8(5), count: 16)
        let hash = Array(repeating: UInt8(6), count: 32)
        var ledger = InvitationLedger(entries: [.init(secret: secret, expires: 500)])
        #expect(admission.refusal(for: stranger, pinned: nil, inbound: true, linksToFriend: 0, peerCount: 0) == .stranger)

        let wrong = Invitation.proof(secret: Array(repeating: 0, count: 16), handshakeHash: hash)
        #expect(admission.redeemInvitation(proof: wrong, handshakeHash: hash, from: stranger, ledger: &ledger, now: 100) == .invitation(.unknown))
        #expect(!friends.contains(stranger))
        #expect(admission.counters.invitationsRefused == 1)

        let right = Invitation.proof(secret: secret, handshakeHash: hash)
        #expect(admission.redeemInvitation(proof: right, handshakeHash: hash, from: own, ledger: &ledger, now: 100) == .ownIdentity)
        #expect(admission.redeemInvitation(proof: right, handshakeHash: hash, from: stranger, ledger: &ledger, now: 100) == nil)
        #expect(friends.contains(stranger))
        #expect(admission.refusal(for: stranger, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 0) == nil)
        #expect(admission.counters.invitationsRedeemed == 1)

        let third = IdentityKey().id
        #expect(admission.redeemInvitation(proof: right, handshakeHash: hash, from: third, ledger: &ledger, now: 100) == .invitation(.unknown))
        #expect(!friends.contains(third))
    }
}

/// The proof inside a real Noise handshake (an in-memory pair).
@Suite struct InvitationHandshakeTests {
    /// Bob (responder) has Alice as no friend; Alice proves `secret`; Bob's hook checks it.
    private func join(proving secret: [UInt8], bobSecret: [UInt8]) -> (SecureLinkHarness, presented: Int) {
        let link = SecureLinkHarness(bobFriends: [])
        var presented = 0
        link.initiator.invitationProof = { hash in Invitation.proof(secret: secret, handshakeHash: hash) }
        link.responder.redeemInvitation = { [bobList = link.bobFriendList] id, proof, hash in
            presented += 1
            guard Invitation.verify(proof, secret: bobSecret, handshakeHash: hash) else { return "wrong secret" }
            bobList.add(id)
            return nil
        }
        link.connect()
        return (link, presented)
    }

    @Test func theRightSecretAdmitsAStranger() {
        let secret = Array(repeating: UInt8(1), count: 16)
        let (link, presented) = join(proving: secret, bobSecret: secret)
        #expect(presented == 1)
        #expect(link.aliceEnd.established && link.bobEnd.established)
        #expect(link.bobFriendList.contains(link.alice.id))
    }

    @Test func aWrongSecretFailsTheHandshakeAsUnauthenticated() {
        let (link, presented) = join(proving: Array(repeating: 1, count: 16), bobSecret: Array(repeating: 2, count: 16))
        #expect(presented == 1)
        #expect(!link.bobEnd.established)
        #expect((link.bobEnd.closedError ?? nil)?.kind == "authenticationFailed", "counted as a failed handshake")
        #expect(link.bobEnd.authorizedIDs.isEmpty, "refused before the friend check")
        #expect(!link.bobFriendList.contains(link.alice.id))
    }

    @Test func aProofToANodeWithoutInvitationsIsRefused() {
        let link = SecureLinkHarness()
        link.initiator.invitationProof = { hash in Invitation.proof(secret: Array(repeating: 1, count: 16), handshakeHash: hash) }
        link.connect()
        #expect(!link.bobEnd.established, "even a friend presenting an unasked-for proof")
        #expect((link.bobEnd.closedError ?? nil)?.kind == "authenticationFailed")
    }

    @Test func withoutAProofAStrangerIsStillRefused() {
        let link = SecureLinkHarness(bobFriends: [])
        var presented = 0
        link.responder.redeemInvitation = { _, _, _ in
            presented += 1
            return nil
        }
        link.connect()
        #expect(presented == 0)
        #expect(!link.bobEnd.established)
        #expect((link.bobEnd.closedError ?? nil)?.kind == "refused")
    }
}
