import Crypto
import Foundation

/// WireGuard's two MACs on a handshake initiation (docs/nat-traversal.md), with HMAC-SHA256
/// truncated to 16 bytes where WireGuard uses keyed BLAKE2s (swift-crypto has no BLAKE2s):
///
/// - **mac1**, keyed with SHA-256("mac1----" ‖ the responder's static public key): only a node
///   that knows whom it is calling can make one. Friends know each other's keys; a scanner
///   does not, and its datagram costs the responder one MAC check and nothing else (no reply,
///   so the responder does not even reveal that it exists).
/// - **mac2**, keyed with a cookie the responder handed out for the sender's address (a cookie
///   reply, `CookieJar`): under load only initiations carrying a valid mac2 cost a
///   Diffie-Hellman, so a flood from spoofed addresses, which never see the cookie, costs MAC
///   checks only.
public struct HandshakeMAC: Sendable {
    public static let count = 16
    static let mac1Label = Array("mac1----".utf8)
    static let cookieLabel = Array("cookie--".utf8)

    /// The key of mac1 on initiations sent to the owner of `publicKey`.
    let mac1Key: SymmetricKey
    /// The key a cookie reply from the owner of `publicKey` is sealed with.
    let cookieKey: SymmetricKey

    /// The MACs for messages to (or, for the responder, from callers of) `responder`.
    public init(responder: PeerID) {
        mac1Key = Self.derive(Self.mac1Label, responder.bytes)
        cookieKey = Self.derive(Self.cookieLabel, responder.bytes)
    }

    private static func derive(_ label: [UInt8], _ key: [UInt8]) -> SymmetricKey {
        var hasher = SHA256()
        hasher.update(data: label)
        hasher.update(data: key)
        return SymmetricKey(data: hasher.finalize())
    }

    /// Writes mac1 over `covered` into `output` (16 bytes).
    func mac1(over covered: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        Self.mac(covered, key: mac1Key, into: output)
    }

    /// Whether `mac` is mac1 over `covered`: the one check a stranger's datagram costs.
    func isValidMAC1(_ mac: UnsafeRawBufferPointer, over covered: UnsafeRawBufferPointer) -> Bool {
        Self.isValid(mac, covered, key: mac1Key)
    }

    static func mac(_ covered: UnsafeRawBufferPointer, key: SymmetricKey, into output: UnsafeMutableRawBufferPointer) {
        let code = HMAC<SHA256>.authenticationCode(for: covered, using: key)
        code.withUnsafeBytes { full in
            for index in 0..<Self.count { output[index] = full[index] }
        }
    }

    /// Compares without an early exit, so the time taken says nothing of how much matched.
    static func isValid(_ mac: UnsafeRawBufferPointer, _ covered: UnsafeRawBufferPointer, key: SymmetricKey) -> Bool {
        guard mac.count == Self.count else { return false }
        let code = HMAC<SHA256>.authenticationCode(for: covered, using: key)
        return code.withUnsafeBytes { full in
            var difference: UInt8 = 0
            for index in 0..<Self.count { difference |= full[index] ^ mac[index] }
            return difference == 0
        }
    }
}
