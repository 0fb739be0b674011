import Crypto
import Foundation

/// A one-time invitation to become friends: the inviter's id, where it listens, and a secret
/// only the invitation's holder knows. Passed as a link (`f2f://invite/ID/SECRET/HOST:PORT,…`);
/// the joiner dials an address and proves the secret inside the Noise handshake
/// (`proof(secret:handshakeHash:)`), never sending it.
public struct Invitation: Equatable, Sendable {
    public static let linkPrefix = "f2f://invite/"
    /// 128 bits: guessing it is as hopeless as forging a key, and the link stays short.
    public static let secretCount = 16
    /// What the joiner's last handshake message carries: a version byte, then the MAC.
    public static let proofVersion: UInt8 = 1
    public static let proofCount = 1 + 32
    /// Binds the MAC to its purpose: the same secret keyed for anything else gives another tag.
    private static let proofLabel = Array("f2f-switch invitation v1".utf8)

    public var inviter: PeerID
    /// `HOST:PORT` as the inviter listens (TCP and UDP), in the order to try.
    public var addresses: [String]
    public var secret: [UInt8]

    public init(inviter: PeerID, addresses: [String], secret: [UInt8]) {
        self.inviter = inviter
        self.addresses = addresses
        self.secret = secret
    }

    /// A new invitation with a fresh random secret.
    public static func make(inviter: PeerID, addresses: [String]) -> Invitation {
        var generator = SystemRandomNumberGenerator()
        return Invitation(inviter: inviter, addresses: addresses, secret: (0..<secretCount).map { _ in generator.next() })
    }

    public var link: String {
        Self.linkPrefix + inviter.checkedDescription + "/" + Base32.encode(secret) + "/" + addresses.joined(separator: ",")
    }

    /// Parses a link; nil when anything is off (a mistyped id fails its check characters).
    public init?(link text: String) {
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
        guard trimmed.hasPrefix(Self.linkPrefix) else { return nil }
        let parts = trimmed.dropFirst(Self.linkPrefix.count).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let inviter = PeerID(parsing: String(parts[0])),
            let secret = Base32.decode(String(parts[1])), secret.count == Self.secretCount
        else { return nil }
        let addresses = parts[2].split(separator: ",").map(String.init)
        guard !addresses.isEmpty, addresses.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else { return nil }
        self.init(inviter: inviter, addresses: addresses, secret: secret)
    }

    /// What the joiner sends: HMAC-SHA256 keyed by the secret over the handshake hash before
    /// its last message, so the proof is good for this handshake only and shows nothing of
    /// the secret.
    public static func proof(secret: [UInt8], handshakeHash: [UInt8]) -> [UInt8] {
        var authenticator = HMAC<SHA256>(key: SymmetricKey(data: secret))
        authenticator.update(data: proofLabel)
        authenticator.update(data: handshakeHash)
        return [proofVersion] + Array(authenticator.finalize())
    }

    /// Whether `proof` was made with `secret` for this handshake (compared in constant time).
    public static func verify(_ proof: [UInt8], secret: [UInt8], handshakeHash: [UInt8]) -> Bool {
        guard proof.count == proofCount, proof[0] == proofVersion else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(
            Array(proof.dropFirst()), authenticating: proofLabel + handshakeHash, using: SymmetricKey(data: secret))
    }
}
