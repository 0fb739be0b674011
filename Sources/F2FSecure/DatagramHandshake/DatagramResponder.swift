import F2FBase
import F2FCore

/// The answering side of friend-link handshakes over UDP, for every caller at once
/// (docs/nat-traversal.md). What a datagram costs here is the point:
///
/// - an initiation without our mac1 (a stranger who does not know our key): one MAC check,
///   no reply, no allocation of ours, no log line; counted;
/// - with mac1, while handshakes are within `handshakeRate`: the Diffie-Hellman work of
///   message 2, and a pending entry (bounded, oldest evicted, expiring);
/// - with mac1 under load (the rate's tokens spent): a cookie reply and nothing else, unless
///   the initiation carries a valid mac2 (its sender received our cookie at its address), and
///   then within a per-source budget;
/// - a completion (message 3) only for a pending index of ours; the caller's `authorize` then
///   applies the friends-only rules (`FriendAdmission`) to the key it proved.
public struct DatagramResponder {
    /// Distinct from the TCP link's, so a message of one handshake never fits the other.
    static let prologue = Array("f2f-switch udp link v1".utf8)

    public struct Limits: Sendable {
        /// Handshakes per second (and burst) before the responder counts as under load.
        public var handshakeRate: Double
        public var handshakeBurst: Int
        /// Under load, handshakes per second (and burst) from one source with a valid mac2.
        public var handshakeRatePerSource: Double
        public var handshakeBurstPerSource: Int
        /// Handshakes waiting for message 3; the oldest gives way.
        public var maximumPending: Int
        public var pendingTimeout: Duration

        public init(
            handshakeRate: Double = 20, handshakeBurst: Int = 40, handshakeRatePerSource: Double = 2, handshakeBurstPerSource: Int = 4,
            maximumPending: Int = 64, pendingTimeout: Duration = .seconds(5)
        ) {
            self.handshakeRate = handshakeRate
            self.handshakeBurst = handshakeBurst
            self.handshakeRatePerSource = handshakeRatePerSource
            self.handshakeBurstPerSource = handshakeBurstPerSource
            self.maximumPending = maximumPending
            self.pendingTimeout = pendingTimeout
        }
    }

    /// What happened to each handshake datagram (`limits/print`).
    public struct Counters: Equatable, Sendable {
        public var badMAC1: UInt64 = 0
        public var cookieRepliesSent: UInt64 = 0
        public var badMAC2: UInt64 = 0
        public var rateLimited: UInt64 = 0
        public var responses: UInt64 = 0
        public var duplicateInitiations: UInt64 = 0
        public var unknownIndex: UInt64 = 0
        public var handshakeFailures: UInt64 = 0
        public var refused: UInt64 = 0
        public var established: UInt64 = 0
        public var pendingEvicted: UInt64 = 0
        public var pendingExpired: UInt64 = 0
        public var punches: UInt64 = 0
        public init() {}
    }

    public enum InitiationOutcome: Equatable {
        /// Nothing to send (counted).
        case dropped
        /// Under load: send this cookie reply to the source.
        case cookieReply([UInt8])
        /// Send this response (message 2) to the source.
        case response([UInt8])
    }

    public enum CompletionOutcome {
        case dropped
        /// The friends-only rules refused the key the handshake proved.
        case refused(PeerID, reason: String)
        /// A friend proved `id`; the session's datagrams carry `session.localIndex`.
        case established(PeerID, session: NoiseDatagramCipher)
    }

    private struct InitiationKey: Hashable {
        var senderIndex: UInt32
        var source: HandshakeSource
    }

    private struct Pending {
        var noise: NoiseHandshake
        var key: InitiationKey
        var response: [UInt8]
        var started: Instant
    }

    public let limits: Limits
    public private(set) var counters = Counters()
    private let identity: IdentityKey
    private let networkKey: NetworkKey?
    /// mac1 as callers key it: with our own public key.
    public let mac: HandshakeMAC
    private var cookies: CookieJar
    private var bucket: TokenBucket
    private var sourceBuckets: [UInt64: TokenBucket] = [:]
    private var pending: [UInt32: Pending] = [:]
    private var byInitiation: [InitiationKey: UInt32] = [:]

    public init(identity: IdentityKey, networkKey: NetworkKey?, limits: Limits = Limits(), now: Instant) {
        self.identity = identity
        self.networkKey = networkKey
        self.limits = limits
        mac = HandshakeMAC(responder: identity.id)
        cookies = CookieJar(ownID: identity.id, now: now)
        bucket = TokenBucket(ratePerSecond: limits.handshakeRate, burst: limits.handshakeBurst, now: now)
    }

    public var pendingCount: Int { pending.count }

    /// Whether `index` names a handshake waiting for its message 3.
    public func isPending(_ index: UInt32) -> Bool { pending[index] != nil }

    /// An initiation datagram from `source`. `newIndex` draws our index for the session (the
    /// caller knows which are free).
    public mutating func receiveInitiation(
        _ datagram: UnsafeRawBufferPointer, from source: HandshakeSource, now: Instant, newIndex: () -> UInt32
    ) -> InitiationOutcome {
        let mac1Start = datagram.count - HandshakeDatagram.macsCount
        let mac2Start = mac1Start + HandshakeMAC.count
        guard datagram.count >= HandshakeDatagram.minimumInitiationCount,
            mac.isValidMAC1(UnsafeRawBufferPointer(rebasing: datagram[mac1Start..<mac2Start]), over: UnsafeRawBufferPointer(rebasing: datagram[..<mac1Start]))
        else {
            counters.badMAC1 &+= 1
            return .dropped
        }
        let key = InitiationKey(senderIndex: HandshakeDatagram.firstIndex(of: datagram), source: source)
        if let index = byInitiation[key], let entry = pending[index] {
            // Our response was lost: the same again, without new Diffie-Hellman work.
            counters.duplicateInitiations &+= 1
            return .response(entry.response)
        }
        if !bucket.take(now: now) {
            guard cookies.isValidMAC2(datagram, from: source) else {
                cookies.rotate(now: now)
                counters.cookieRepliesSent &+= 1
                return .cookieReply(cookies.reply(to: datagram, from: source))
            }
            var perSource = sourceBuckets[source.prefix]
                ?? TokenBucket(ratePerSecond: limits.handshakeRatePerSource, burst: limits.handshakeBurstPerSource, now: now)
            let allowed = perSource.take(now: now)
            if sourceBuckets.count >= 4096 { sourceBuckets = sourceBuckets.filter { !$0.value.isFull(now: now) } }
            sourceBuckets[source.prefix] = perSource
            guard allowed else {
                counters.rateLimited &+= 1
                return .dropped
            }
        }
        var noise = NoiseHandshake(role: .responder, localStatic: identity.privateKey, prologue: Self.prologue, networkKey: networkKey)
        let message: [UInt8]
        do {
            _ = try noise.readMessage(Array(UnsafeRawBufferPointer(rebasing: datagram[HandshakeDatagram.initiationHeaderCount..<mac1Start])))
            message = try noise.writeMessage()
        } catch {
            counters.handshakeFailures &+= 1
            return .dropped
        }
        var index = newIndex()
        while pending[index] != nil { index = newIndex() }
        var response: [UInt8] = []
        HandshakeDatagram.appendHeader(HandshakeDatagram.response, to: &response)
        HandshakeDatagram.append(index, to: &response)
        HandshakeDatagram.append(key.senderIndex, to: &response)
        response += message
        if pending.count >= limits.maximumPending, let oldest = pending.min(by: { $0.value.started < $1.value.started }) {
            remove(oldest.key)
            counters.pendingEvicted &+= 1
        }
        pending[index] = Pending(noise: noise, key: key, response: response, started: now)
        byInitiation[key] = index
        counters.responses &+= 1
        return .response(response)
    }

    /// A completion (message 3) naming one of our pending indices. `authorize` returns nil for
    /// a friend who may link now, or why not.
    public mutating func receiveCompletion(_ datagram: UnsafeRawBufferPointer, authorize: (PeerID) -> String?) -> CompletionOutcome {
        let index = HandshakeDatagram.receiverIndex(of: datagram)
        guard var entry = pending[index] else {
            counters.unknownIndex &+= 1
            return .dropped
        }
        let id: PeerID
        do {
            _ = try entry.noise.readMessage(Array(UnsafeRawBufferPointer(rebasing: datagram[HandshakeDatagram.responseHeaderCount...])))
            guard let proved = entry.noise.remoteStatic else { throw NoiseError.outOfOrder }
            id = proved
        } catch {
            // Forged or corrupted: the pending handshake stays for the genuine message 3.
            counters.handshakeFailures &+= 1
            return .dropped
        }
        remove(index)
        if let reason = authorize(id) {
            counters.refused &+= 1
            return .refused(id, reason: reason)
        }
        counters.established &+= 1
        let keys = entry.noise.datagramKeys()
        return .established(
            id, session: NoiseDatagramCipher(sending: keys.send, receiving: keys.receive, localIndex: index, remoteIndex: entry.key.senderIndex))
    }

    /// A punch datagram: one MAC check, then nothing (it only opened the sender's NAT).
    public mutating func receivePunch(_ datagram: UnsafeRawBufferPointer) -> Bool {
        guard HandshakeDatagram.isValidPunch(datagram, for: mac) else {
            counters.badMAC1 &+= 1
            return false
        }
        counters.punches &+= 1
        return true
    }

    /// Gives up pending handshakes older than `pendingTimeout`; returns their indices.
    public mutating func expire(now: Instant) -> [UInt32] {
        cookies.rotate(now: now)
        let expired = pending.filter { now - $0.value.started >= limits.pendingTimeout }.map(\.key)
        for index in expired { remove(index) }
        counters.pendingExpired &+= UInt64(expired.count)
        return expired
    }

    private mutating func remove(_ index: UInt32) {
        guard let entry = pending.removeValue(forKey: index) else { return }
        byInitiation[entry.key] = nil
    }
}
