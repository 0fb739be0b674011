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
