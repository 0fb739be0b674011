import Crypto
import F2FBase
import Foundation

/// The responder's side of WireGuard's cookie mechanism (docs/nat-traversal.md): a cookie is
/// MAC(secret, source address), the secret replaced every two minutes, so a cookie is worth
/// something only to the address it was made for and only for a while. It goes to the
/// initiator sealed under a key derived from our public key with the initiation's mac1 as
/// associated data: only the node that made that initiation (knowing whom it called) reads it.
/// The initiator then puts mac2 = MAC(cookie, message) on its initiation; an attacker spoofing
/// addresses never receives a cookie and so never gets past the mac2 check.
public struct CookieJar {
    static let secretLifetime: Duration = .seconds(120)

    private var secret: SymmetricKey
    private var secretSince: Instant
    private let mac: HandshakeMAC

    public init(ownID: PeerID, now: Instant) {
        mac = HandshakeMAC(responder: ownID)
        secret = SymmetricKey(size: .bits256)
        secretSince = now
    }

    mutating func rotate(now: Instant) {
        guard now - secretSince >= Self.secretLifetime else { return }
        secret = SymmetricKey(size: .bits256)
        secretSince = now
    }

    private func cookie(for source: HandshakeSource) -> SymmetricKey {
        let code = source.withUnsafeBytes { HMAC<SHA256>.authenticationCode(for: $0, using: secret) }
        return code.withUnsafeBytes { SymmetricKey(data: UnsafeRawBufferPointer(rebasing: $0[0..<HandshakeDatagram.cookieCount])) }
    }

    /// Whether the initiation's mac2 is the MAC of its cookie for `source`.
    func isValidMAC2(_ initiation: UnsafeRawBufferPointer, from source: HandshakeSource) -> Bool {
        let mac2Start = initiation.count - HandshakeMAC.count
        return HandshakeMAC.isValid(
            UnsafeRawBufferPointer(rebasing: initiation[mac2Start...]), UnsafeRawBufferPointer(rebasing: initiation[..<mac2Start]),
            key: cookie(for: source))
    }

    /// The cookie reply to an initiation from `source`.
    func reply(to initiation: UnsafeRawBufferPointer, from source: HandshakeSource) -> [UInt8] {
        let mac1Start = initiation.count - HandshakeDatagram.macsCount
        let mac1 = UnsafeRawBufferPointer(rebasing: initiation[mac1Start..<(mac1Start + HandshakeMAC.count)])
        var output: [UInt8] = []
        output.reserveCapacity(HandshakeDatagram.cookieReplyCount)
        HandshakeDatagram.appendHeader(HandshakeDatagram.cookieReply, to: &output)
        HandshakeDatagram.append(HandshakeDatagram.firstIndex(of: initiation), to: &output)
        let nonce = ChaChaPoly.Nonce()
        output.append(contentsOf: nonce)
        let plaintext = cookie(for: source).withUnsafeBytes { Data($0) }
        // Sealing fails only on a key or nonce of the wrong size; ours are 32 and 12 bytes.
        let box = try! ChaChaPoly.seal(plaintext, using: mac.cookieKey, nonce: nonce, authenticating: mac1)
        output.append(contentsOf: box.ciphertext)
        output.append(contentsOf: box.tag)
        return output
    }

    /// The initiator's side: the cookie in a reply from the owner of `mac`'s key to our
    /// initiation carrying `mac1`, or nil when it does not open.
    static func openReply(_ reply: UnsafeRawBufferPointer, mac: HandshakeMAC, mac1: ArraySlice<UInt8>) -> SymmetricKey? {
        guard reply.count == HandshakeDatagram.cookieReplyCount,
            let nonce = try? ChaChaPoly.Nonce(data: UnsafeRawBufferPointer(rebasing: reply[8..<20])),
            let box = try? ChaChaPoly.SealedBox(
                nonce: nonce, ciphertext: UnsafeRawBufferPointer(rebasing: reply[20..<36]), tag: UnsafeRawBufferPointer(rebasing: reply[36..<52])),
            let cookie = try? ChaChaPoly.open(box, using: mac.cookieKey, authenticating: mac1)
        else { return nil }
        return SymmetricKey(data: cookie)
    }
}

/// A datagram's source as the handshake sees it: the address and port (cookies are made for
/// both), and the part that rate limits group by (an IPv4 address, an IPv6 /64). A value
/// without references, so building one for a stranger's datagram allocates nothing.
public struct HandshakeSource: Hashable, Sendable {
    /// IPv6 address bytes 0..7 (0 for IPv4), bytes 8..15 (the IPv4 address in the low 32 bits).
    public var high: UInt64
    public var low: UInt64
    public var port: UInt16
    public var isIPv6: Bool

    public init(high: UInt64, low: UInt64, port: UInt16, isIPv6: Bool) {
        self.high = high
        self.low = low
        self.port = port
        self.isIPv6 = isIPv6
    }

    /// What per-source limits count by.
    public var prefix: UInt64 { isIPv6 ? high : low }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 19) { bytes in
            for index in 0..<8 {
                bytes[index] = UInt8(truncatingIfNeeded: high >> UInt64(8 * index))
                bytes[8 + index] = UInt8(truncatingIfNeeded: low >> UInt64(8 * index))
            }
            bytes[16] = UInt8(port >> 8)
            bytes[17] = UInt8(port & 0xFF)
            bytes[18] = isIPv6 ? 6 : 4
            return body(UnsafeRawBufferPointer(bytes))
        }
    }
}
