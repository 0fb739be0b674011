import F2FBase
import F2FCore

/// Who may link with us and what a stranger may cost us, apart from sockets and the loop:
/// `FriendLinks` asks, performs the answer (closes, warns) and keeps the connections. Each
/// refusal is counted by reason (`limits/print`).
public struct FriendAdmission {
    public struct Limits: Sendable {
        public var maxPeers: Int
        /// First handshake messages answered per second from all strangers together, and burst.
        public var handshakeRate: Double
        public var handshakeBurst: Int
        /// The same from one source (an IPv4 address or IPv6 /64).
        public var handshakeRatePerSource: Double
        public var handshakeBurstPerSource: Int

        public init(maxPeers: Int, handshakeRate: Double, handshakeBurst: Int, handshakeRatePerSource: Double, handshakeBurstPerSource: Int) {
            self.maxPeers = maxPeers
            self.handshakeRate = handshakeRate
            self.handshakeBurst = handshakeBurst
            self.handshakeRatePerSource = handshakeRatePerSource
            self.handshakeBurstPerSource = handshakeBurstPerSource
        }
    }

    public enum Refusal: Equatable, Sendable, CustomStringConvertible {
        case notPinnedID(expected: PeerID)
        case ownIdentity
        case stranger
        case duplicateLink
        case peerLimit(Int)
        case sourceHandshakeRate(Double, source: String)
        case handshakeRate(Double)
        /// An invitation proof that did not prove out: counted as a failed handshake.
        case invitation(InvitationLedger.Refusal)

        public var description: String {
            switch self {
            case .notPinnedID(let expected): "expected \(expected) at this address"
            case .ownIdentity: "it has our own identity: give each switch its own --identity file"
            case .stranger: "not a friend"
            case .duplicateLink: "already linked (one link per friend)"
            case .peerLimit(let limit): "already \(limit) peers (--max-peers)"
            case .sourceHandshakeRate(let rate, let source):
                "more than \(rate) handshakes per second from \(source) (--handshake-rate-per-source)"
            case .handshakeRate(let rate): "more than \(rate) handshakes per second from strangers (--handshake-rate)"
            case .invitation(let refusal): "invitation refused: \(refusal)"
            }
        }
    }

    public struct Counters: Sendable {
        public var strangersRefused: UInt64 = 0
        public var overPeerLimit: UInt64 = 0
        public var handshakesRateLimited: UInt64 = 0
        public var duplicateLinksRefused: UInt64 = 0
        public var invitationsRedeemed: UInt64 = 0
        public var invitationsRefused: UInt64 = 0
    }

    /// Forgotten first once full again; beyond this many, all are (a bucket is only a few seconds of memory).
    public static let maximumSourceBuckets = 4096

    public let ownID: PeerID
    public let friends: FriendList
    public let limits: Limits
    public private(set) var counters = Counters()
    /// Source prefixes of the pinned peers' hosts: their handshakes are not charged.
    public var reservedSources: Set<String> = []
    private var handshakeBucket: TokenBucket
    private var sourceBuckets: [String: TokenBucket] = [:]

    public init(ownID: PeerID, friends: FriendList, limits: Limits, now: Instant) {
        self.ownID = ownID
        self.friends = friends
        self.limits = limits
        handshakeBucket = TokenBucket(ratePerSecond: limits.handshakeRate, burst: limits.handshakeBurst, now: now)
    }

    /// Sources with a bucket that is not full yet.
    public var trackedSourceCount: Int { sourceBuckets.count }

    /// A new incoming connection, before anything is read: refused once `peerCount` links are
    /// at the limit.
    public mutating func admitConnection(peerCount: Int) -> Refusal? {
        guard peerCount >= limits.maxPeers else { return nil }
        counters.overPeerLimit &+= 1
        return .peerLimit(limits.maxPeers)
    }

    /// The handshake has shown who is at the other end: the reason `id` may not link, or nil
    /// for a friend. `linksToFriend` counts our links (open or in their hello) with `id`.
    public mutating func refusal(for id: PeerID, pinned: PeerID?, inbound: Bool, linksToFriend: Int, peerCount: Int) -> Refusal? {
        if let pinned, pinned != id { return .notPinnedID(expected: pinned) }
        if id == ownID { return .ownIdentity }
        guard friends.contains(id) else {
            counters.strangersRefused &+= 1
            return .stranger
        }
        // One link per friend (the core keeps one of two, e.g. when both ends dial): a friend
        // opening more, each waiting for its hello, would hold --max-peers slots.
        guard !inbound || linksToFriend < 2 else {
            counters.duplicateLinksRefused &+= 1
            return .duplicateLink
        }
        // Links we dial were configured by the user; only strangers' attempts are capped.
        guard !inbound || peerCount < limits.maxPeers else {
            counters.overPeerLimit &+= 1
            return .peerLimit(limits.maxPeers)
        }
        return nil
    }

    /// The joiner's last handshake message carried an invitation proof: the only way a key
    /// that is not a friend gets past `refusal(for:…)`, and only when the proof matches an
    /// outstanding invitation of `ledger` that has not expired. The invitation is then used up
    /// and `id` a friend; `refusal(for:…)` still applies its other rules to this handshake.
    public mutating func redeemInvitation(
        proof: [UInt8], handshakeHash: [UInt8], from id: PeerID, ledger: inout InvitationLedger, now: Int64
    ) -> Refusal? {
        if id == ownID { return .ownIdentity }
        switch ledger.redeem(proof: proof, handshakeHash: handshakeHash, now: now) {
        case .failure(let refusal):
            counters.invitationsRefused &+= 1
            return .invitation(refusal)
        case .success:
            counters.invitationsRedeemed &+= 1
            friends.add(id)
            return nil
        }
    }

    /// The first handshake message from `source` is in: it may cost us Diffie-Hellman work
    /// now, within its source's budget and all strangers' (pinned peers' hosts are not charged).
    public mutating func admitHandshake(from source: String, now: Instant) -> Refusal? {
        guard !reservedSources.contains(source) else { return nil }
        var bucket = sourceBuckets[source]
            ?? TokenBucket(ratePerSecond: limits.handshakeRatePerSource, burst: limits.handshakeBurstPerSource, now: now)
        let allowed = bucket.take(now: now)
        if sourceBuckets[source] == nil, sourceBuckets.count >= Self.maximumSourceBuckets { forgetIdleSources(now: now) }
        sourceBuckets[source] = bucket
        let refusal: Refusal
        if !allowed {
            refusal = .sourceHandshakeRate(limits.handshakeRatePerSource, source: source)
        } else if !handshakeBucket.take(now: now) {
            refusal = .handshakeRate(limits.handshakeRate)
        } else {
            return nil
        }
        counters.handshakesRateLimited &+= 1
        return refusal
    }

    /// Drops the buckets of sources that have been quiet long enough to be full again; if
    /// that is not enough to stay under the cap, all of them.
    public mutating func forgetIdleSources(now: Instant) {
        sourceBuckets = sourceBuckets.filter { !$0.value.isFull(now: now) }
        if sourceBuckets.count >= Self.maximumSourceBuckets { sourceBuckets.removeAll() }
    }
}
