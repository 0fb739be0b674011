import Crypto
import F2FCore

/// A node's public id: its long-term X25519 public key, 52 base32 characters, shown to people
/// in the checked form (`checkedDescription`) that catches a typo. The Noise handshake proves
/// the other side holds the matching private key.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(publicKeyBytes: [UInt8]) {
        guard publicKeyBytes.count == NoiseHandshake.keyCount else { return nil }
        bytes = publicKeyBytes
    }

    /// The 52-character form or the checked form (`checkedDescription`, any case, dashes
    /// optional); a checked id with a wrong check character is refused.
    public init?(parsing text: String) {
        let plain = text.utf8.count == 52 ? text : CheckedID.decode(text)
        guard let plain, plain.utf8.count == 52, let bytes = Base32.decode(plain) else { return nil }
        self.init(publicKeyBytes: bytes)
    }

    /// The 52-character form, as files and logs have always had it.
    public var description: String { Base32.encode(bytes) }

    /// `ABCDEFG-HIJKLMN-…`: eight groups of seven with four check characters, for people.
    public var checkedDescription: String { CheckedID.encode(description) }

    /// The first group of the checked form: enough to tell friends apart in a list.
    public var shortDescription: String { String(checkedDescription.prefix(CheckedID.groupCount)) }

    /// The node id a hello from this key must carry.
    public var nodeID: UInt64 { AuthenticatedIdentity.nodeID(forPublicKey: bytes) }

    var publicKey: Curve25519.KeyAgreement.PublicKey? {
        try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: bytes)
    }
}

/// This node's long-term key pair. Stored by the command line (0600 file); pure here.
public struct IdentityKey: Sendable {
    public let privateKey: Curve25519.KeyAgreement.PrivateKey

    public init() {
        privateKey = Curve25519.KeyAgreement.PrivateKey()
    }

    public init?(privateKeyBytes: [UInt8]) {
        guard privateKeyBytes.count == NoiseHandshake.keyCount,
            let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKeyBytes)
        else { return nil }
        privateKey = key
    }

    /// The private key as it is stored: base32 like the ids, so the file is plain text.
    public init?(encoded text: String) {
        guard let bytes = Base32.decode(text) else { return nil }
        self.init(privateKeyBytes: bytes)
    }

    public var encoded: String { Base32.encode(Array(privateKey.rawRepresentation)) }

    public var id: PeerID { PeerID(publicKeyBytes: Array(privateKey.publicKey.rawRepresentation))! }
}
