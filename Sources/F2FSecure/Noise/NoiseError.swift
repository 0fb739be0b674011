/// Why a Noise handshake or transport message was refused. Any of these ends the link.
public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A message arrived when the pattern says it is our turn, or after the handshake.
    case outOfOrder
    /// Too short for its tokens, or longer than a Noise message may be.
    case malformedMessage(String)
    /// AEAD authentication failed: tampered, replayed, reordered or wrong key.
    case decryptionFailed
    /// The other side's key was not a valid X25519 public key, or the DH result was all zero.
    case invalidPublicKey
    /// 2^64 − 1 messages under one key: Noise forbids the last nonce.
    case nonceExhausted

    public var description: String {
        switch self {
        case .outOfOrder: "Noise message out of order"
        case .malformedMessage(let detail): "malformed Noise message: \(detail)"
        case .decryptionFailed: "Noise message failed authentication (tampered, replayed or wrong key)"
        case .invalidPublicKey: "invalid X25519 public key"
        case .nonceExhausted: "Noise nonce exhausted"
        }
    }
}
