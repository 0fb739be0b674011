import F2FBase
import F2FCore
import F2FSecure
import Testing

/// The friend-link admission rules on virtual time, one rule per test: each refusal is the
/// right one, counted once, and what is allowed is not charged.
@Suite struct FriendAdmissionTests {
    private static func id(_ byte: UInt8) -> PeerID {
        PeerID(publicKeyBytes: [UInt8](repeating: byte, count: 32))!
    }

    private let me = Self.id(1)
    private let friend = Self.id(2)
    private let stranger = Self.id(3)
    private let t0 = Instant(nanoseconds: 1_000_000_000)

    private func admission(
        maxPeers: Int = 4, rate: Double = 10, burst: Int = 10, ratePerSource: Double = 2, burstPerSource: Int = 4
    ) -> FriendAdmission {
        FriendAdmission(
            ownID: me, friends: FriendList([friend]),
            limits: FriendAdmission.Limits(
                maxPeers: maxPeers, handshakeRate: rate, handshakeBurst: burst,
                handshakeRatePerSource: ratePerSource, handshakeBurstPerSource: burstPerSource),
            now: t0)
    }

    @Test func aFriendIsAdmittedBothWays() {
        var rules = admission()
        #expect(rules.refusal(for: friend, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 1) == nil)
        #expect(rules.refusal(for: friend, pinned: friend, inbound: false, linksToFriend: 1, peerCount: 1) == nil)
    }

    @Test func anUnknownKeyIsRefusedAndCounted() {
        var rules = admission()
        let refusal = rules.refusal(for: stranger, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 1)
        #expect(refusal == .stranger)
        #expect(refusal?.description == "not a friend")
        #expect(rules.counters.strangersRefused == 1)
    }

    @Test func aFriendRemovedFromTheListIsAStrangerAtItsNextHandshake() {
        let friends = FriendList([friend])
        var rules = FriendAdmission(
            ownID: me, friends: friends,
            limits: FriendAdmission.Limits(maxPeers: 4, handshakeRate: 1, handshakeBurst: 1, handshakeRatePerSource: 1, handshakeBurstPerSource: 1),
            now: t0)
        friends.remove(friend)
        #expect(rules.refusal(for: friend, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 1) == .stranger)
    }

    @Test func aPinnedAddressMustPresentThePinnedKey() {
        var rules = admission()
        #expect(rules.refusal(for: friend, pinned: stranger, inbound: false, linksToFriend: 1, peerCount: 1) == .notPinnedID(expected: stranger))
        // A mismatch is not a stranger's attempt: not counted as one.
        #expect(rules.counters.strangersRefused == 0)
    }

    @Test func ourOwnKeyIsRefused() {
        var rules = admission()
        #expect(rules.refusal(for: me, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 1) == .ownIdentity)
    }

    /// Counting the link being admitted: a second one of the same friend is refused inbound,
    /// so one link is kept; a link we dial ourselves is left to the core's tie-break.
    @Test func aDuplicateKeyKeepsOneLink() {
        var rules = admission()
        #expect(rules.refusal(for: friend, pinned: nil, inbound: true, linksToFriend: 2, peerCount: 2) == .duplicateLink)
        #expect(rules.counters.duplicateLinksRefused == 1)
        #expect(rules.refusal(for: friend, pinned: friend, inbound: false, linksToFriend: 2, peerCount: 2) == nil)
    }

    @Test func thePeerLimitRefusesNewConnectionsAndInboundHandshakesButNotOurDials() {
        var rules = admission(maxPeers: 2)
        #expect(rules.admitConnection(peerCount: 1) == nil)
        #expect(rules.admitConnection(peerCount: 2) == .peerLimit(2))
        #expect(rules.refusal(for: friend, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 2) == .peerLimit(2))
        #expect(rules.refusal(for: friend, pinned: friend, inbound: false, linksToFriend: 1, peerCount: 2) == nil)
        #expect(rules.counters.overPeerLimit == 2)
        #expect(rules.refusal(for: friend, pinned: nil, inbound: true, linksToFriend: 1, peerCount: 2)?.description == "already 2 peers (--max-peers)")
    }

    @Test func oneSourceGetsItsBurstThenItsRate() {
        var rules = admission(ratePerSource: 2, burstPerSource: 4)
        for _ in 0..<4 { #expect(rules.admitHandshake(from: "192.0.2.1", now: t0) == nil) }
        #expect(rules.admitHandshake(from: "192.0.2.1", now: t0) == .sourceHandshakeRate(2, source: "192.0.2.1"))
        // Another source is not held back by the first's budget.
        #expect(rules.admitHandshake(from: "192.0.2.2", now: t0) == nil)
        // Half a second at 2/s brings one handshake back.
        #expect(rules.admitHandshake(from: "192.0.2.1", now: t0 + .milliseconds(500)) == nil)
        #expect(rules.admitHandshake(from: "192.0.2.1", now: t0 + .milliseconds(500)) != nil)
        #expect(rules.counters.handshakesRateLimited == 2)
    }

    @Test func allStrangersTogetherShareTheGlobalBudget() {
        var rules = admission(rate: 1, burst: 3, ratePerSource: 100, burstPerSource: 100)
        for source in 0..<3 { #expect(rules.admitHandshake(from: "198.51.100.\(source)", now: t0) == nil) }
        let refusal = rules.admitHandshake(from: "198.51.100.9", now: t0)
        #expect(refusal == .handshakeRate(1))
        #expect(refusal?.description == "more than 1.0 handshakes per second from strangers (--handshake-rate)")
        #expect(rules.counters.handshakesRateLimited == 1)
    }

    @Test func reservedSourcesAreNeverCharged() {
        var rules = admission(rate: 1, burst: 1, ratePerSource: 1, burstPerSource: 1)
        rules.reservedSources = ["203.0.113.7"]
        for _ in 0..<10 { #expect(rules.admitHandshake(from: "203.0.113.7", now: t0) == nil) }
        // The global budget is untouched by them.
        #expect(rules.admitHandshake(from: "198.51.100.1", now: t0) == nil)
        #expect(rules.counters.handshakesRateLimited == 0)
    }

    @Test func quietSourcesAreForgottenOnceTheirBucketIsFull() {
        var rules = admission(ratePerSource: 2, burstPerSource: 4)
        _ = rules.admitHandshake(from: "192.0.2.1", now: t0)
        _ = rules.admitHandshake(from: "192.0.2.2", now: t0 + .seconds(1))
        #expect(rules.trackedSourceCount == 2)

        // 192.0.2.1 took one token at t0 and is full again after 0.5 s; .2 is not yet at t0 + 1.2 s.
        rules.forgetIdleSources(now: t0 + .milliseconds(1200))
        #expect(rules.trackedSourceCount == 1)
    }

    @Test func theNumberOfTrackedSourcesIsCapped() {
        var rules = admission(rate: 1_000_000, burst: 1_000_000, ratePerSource: 1, burstPerSource: 2)
        for index in 0..<(FriendAdmission.maximumSourceBuckets + 10) {
            _ = rules.admitHandshake(from: "source-\(index)", now: t0)
        }
        #expect(rules.trackedSourceCount <= FriendAdmission.maximumSourceBuckets)
    }
}
