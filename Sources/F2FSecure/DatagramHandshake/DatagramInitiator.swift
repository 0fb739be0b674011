import Crypto
import F2FBase

/// Our side of a friend link's Noise XX handshake started over UDP (docs/nat-traversal.md):
/// message 1 as an initiation datagram with mac1 for the friend we call (and mac2 once the
/// friend, under load, sent us a cookie), resent on a timer since datagrams get lost; the
/// response read and checked to come from exactly that friend; message 3 sent, and resent until
/// the friend's first transport datagram shows it arrived (`confirm()`).
///
/// Pure: the caller sends what `start`, `tick` and the `receive…` methods return, and passes
/// the time.
public struct DatagramInitiator {
    public struct Policy: Sendable {
        /// Between resends of message 1 (and of message 3 until confirmed).
        public var retryInterval: Duration
        /// Sends of message 1 before the attempt fails.
        public var maximumTries: Int

        public init(retryInterval: Duration = .seconds(1), maximumTries: Int = 10) {
            self.retryInterval = retryInterval
            self.maximumTries = maximumTries
        }
    }

    public enum Failure: Error, Equatable, Sendable {
        /// No response after `maximumTries` initiations.
        case noResponse
        /// The response came from a key other than the friend's (or the handshake broke).
        case wrongResponder
        case handshakeFailed
    }

    public struct Established {
        /// Message 3, to send now (and again from `tick` until `confirm()`).
        public let completion: [UInt8]
        public let session: NoiseDatagramCipher
    }

    private enum State {
        /// Message 1 sent `tries` times, the last at `lastSent`.
        case awaitingResponse(tries: Int, lastSent: Instant)
        /// Message 3 sent; resent until the friend's first transport datagram.
        case awaitingConfirmation(completion: [UInt8], tries: Int, lastSent: Instant)
        case confirmed
        case failed(Failure)
    }

    public let friend: PeerID
    public let localIndex: UInt32
    public let policy: Policy
    private var noise: NoiseHandshake
    private let mac: HandshakeMAC
    /// Message 1 with room for its MACs, kept to be resent.
    private var initiation: [UInt8] = []
    private var cookie: (key: SymmetricKey, received: Instant)?
    private var state: State

    /// Begins a handshake with `friend`; `initiation` is the first datagram to send.
    public init(
        identity: IdentityKey, friend: PeerID, networkKey: NetworkKey?, localIndex: UInt32, policy: Policy = Policy(), now: Instant
    ) throws(NoiseError) {
        self.friend = friend
        self.localIndex = localIndex
        self.policy = policy
        mac = HandshakeMAC(responder: friend)
        var noise = NoiseHandshake(role: .initiator, localStatic: identity.privateKey, prologue: DatagramResponder.prologue, networkKey: networkKey)
        let message = try noise.writeMessage()
        self.noise = noise
        var datagram: [UInt8] = []
        HandshakeDatagram.appendHeader(HandshakeDatagram.initiation, to: &datagram)
        HandshakeDatagram.append(localIndex, to: &datagram)
        datagram += message
        datagram += repeatElement(0, count: HandshakeDatagram.macsCount)
        initiation = datagram
        state = .awaitingResponse(tries: 1, lastSent: now)
        sealMACs(now: now)
    }

    /// The initiation datagram as it goes out now (mac2 filled in while we hold a fresh cookie).
    public var initiationDatagram: [UInt8] { initiation }

    public var isEstablished: Bool {
        switch state {
        case .awaitingConfirmation, .confirmed: true
        case .awaitingResponse, .failed: false
        }
    }

    public var failure: Failure? {
        if case .failed(let failure) = state { return failure }
        return nil
    }

    /// The next time `tick` has something to do.
    public var nextDeadline: Instant? {
        switch state {
        case .awaitingResponse(_, let lastSent), .awaitingConfirmation(_, _, let lastSent): lastSent + policy.retryInterval
        case .confirmed, .failed: nil
        }
    }

    /// A datagram to resend, if one is due: message 1 while no response came (failing after
    /// `maximumTries`), message 3 until confirmed.
    public mutating func tick(now: Instant) -> [UInt8]? {
        switch state {
        case .awaitingResponse(let tries, let lastSent):
            guard now - lastSent >= policy.retryInterval else { return nil }
            guard tries < policy.maximumTries else {
                state = .failed(.noResponse)
                return nil
            }
            state = .awaitingResponse(tries: tries + 1, lastSent: now)
            sealMACs(now: now)
            return initiation
        case .awaitingConfirmation(let completion, let tries, let lastSent):
            guard now - lastSent >= policy.retryInterval else { return nil }
            // Unconfirmed after as many tries as message 1 had: the friend's transport
            // datagrams never came; the link layer's liveness will end the link.
            guard tries < policy.maximumTries else {
                state = .confirmed
                return nil
            }
            state = .awaitingConfirmation(completion: completion, tries: tries + 1, lastSent: now)
            return completion
        case .confirmed, .failed:
            return nil
        }
    }

    /// A cookie reply for our index: the friend is under load. Returns message 1 again, now
    /// with mac2, to send at once; nil when the reply does not open (not for our initiation).
    public mutating func receiveCookieReply(_ datagram: UnsafeRawBufferPointer, now: Instant) -> [UInt8]? {
        guard case .awaitingResponse(let tries, _) = state, HandshakeDatagram.firstIndex(of: datagram) == localIndex else { return nil }
        let mac1Start = initiation.count - HandshakeDatagram.macsCount
        guard let key = CookieJar.openReply(datagram, mac: mac, mac1: initiation[mac1Start..<(mac1Start + HandshakeMAC.count)]) else { return nil }
        cookie = (key, now)
        state = .awaitingResponse(tries: tries, lastSent: now)
        sealMACs(now: now)
        return initiation
    }

    /// The friend's response (message 2) for our index: proves it is `friend`; returns
    /// message 3 and the session.
    public mutating func receiveResponse(_ datagram: UnsafeRawBufferPointer, now: Instant) throws(Failure) -> Established {
        guard case .awaitingResponse = state, HandshakeDatagram.receiverIndex(of: datagram) == localIndex else { throw .handshakeFailed }
        let remoteIndex = HandshakeDatagram.firstIndex(of: datagram)
        var attempt = noise
        let completion: [UInt8]
        do {
            _ = try attempt.readMessage(Array(UnsafeRawBufferPointer(rebasing: datagram[HandshakeDatagram.responseHeaderCount...])))
            // XX: the responder's static key is proved by now; only the friend we called will do.
            guard attempt.remoteStatic == friend else {
                state = .failed(.wrongResponder)
                throw Failure.wrongResponder
            }
            let message = try attempt.writeMessage()
            var output: [UInt8] = []
            HandshakeDatagram.appendHeader(HandshakeDatagram.completion, to: &output)
            HandshakeDatagram.append(localIndex, to: &output)
            HandshakeDatagram.append(remoteIndex, to: &output)
            completion = output + message
        } catch let failure as Failure {
            throw failure
        } catch {
            // A corrupted or forged response: the real one may still come.
            throw .handshakeFailed
        }
        noise = attempt
        let keys = noise.datagramKeys()
        state = .awaitingConfirmation(completion: completion, tries: 1, lastSent: now)
        return Established(
            completion: completion, session: NoiseDatagramCipher(sending: keys.send, receiving: keys.receive, localIndex: localIndex, remoteIndex: remoteIndex))
    }

    /// The friend's first transport datagram arrived: message 3 got through.
    public mutating func confirm() {
        if case .awaitingConfirmation = state { state = .confirmed }
    }

    private mutating func sealMACs(now: Instant) {
        let mac1Start = initiation.count - HandshakeDatagram.macsCount
        let mac2Start = mac1Start + HandshakeMAC.count
        if let cookie, now - cookie.received >= CookieJar.secretLifetime { self.cookie = nil }
        let mac = mac
        let cookie = cookie
        initiation.withUnsafeMutableBytes { raw in
            mac.mac1(over: UnsafeRawBufferPointer(rebasing: raw[..<mac1Start]), into: UnsafeMutableRawBufferPointer(rebasing: raw[mac1Start..<mac2Start]))
            if let cookie {
                HandshakeMAC.mac(UnsafeRawBufferPointer(rebasing: raw[..<mac2Start]), key: cookie.key, into: UnsafeMutableRawBufferPointer(rebasing: raw[mac2Start...]))
            } else {
                for index in mac2Start..<raw.count { raw[index] = 0 }
            }
        }
    }
}
