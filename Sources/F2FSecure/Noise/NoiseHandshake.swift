import Crypto
import Foundation

/// The Noise XX handshake, `Noise_XX_25519_ChaChaPoly_SHA256` (spec rev. 34, §7.5):
///
///     -> e
///     <- e, ee, s, es
///     -> s, se
///
/// Both sides learn and prove each other's static key — our long-term identity — and get
/// forward-secret transport keys. XX sends each static key encrypted, so a listener learns no
/// ids, and an initiator reveals its own only after it has checked the responder's.
public struct NoiseHandshake {
    public enum Role: Sendable { case initiator, responder }
    public typealias Ciphers = (send: NoiseCipherState, receive: NoiseCipherState)

    public static let protocolName = "Noise_XX_25519_ChaChaPoly_SHA256"
    static let keyCount = 32
    /// Handshake messages we accept: ours carry empty payloads (at most 96 bytes).
    public static let maximumMessageCount = 1024

    public let role: Role
    private var symmetric: NoiseSymmetricState
    private let localStatic: Curve25519.KeyAgreement.PrivateKey
    /// What we send as our static key: the private key's public key, except in tests that
    /// play an impostor presenting someone else's id.
    private let localStaticPublic: [UInt8]
    private var localEphemeral: Curve25519.KeyAgreement.PrivateKey?
    private var presetEphemeral: Curve25519.KeyAgreement.PrivateKey?
    private var remoteEphemeral: Curve25519.KeyAgreement.PublicKey?
    public private(set) var remoteStatic: PeerID?
    /// Messages processed so far (0…3).
    private var step = 0

    public init(role: Role, localStatic: Curve25519.KeyAgreement.PrivateKey, prologue: [UInt8]) {
        self.init(role: role, localStatic: localStatic, presenting: nil, ephemeral: nil, prologue: prologue)
    }

    /// `presenting` and `ephemeral` exist for test vectors and impostor tests only.
    init(
        role: Role, localStatic: Curve25519.KeyAgreement.PrivateKey, presenting: [UInt8]?,
        ephemeral: Curve25519.KeyAgreement.PrivateKey?, prologue: [UInt8]
    ) {
        self.role = role
        self.localStatic = localStatic
        localStaticPublic = presenting ?? Array(localStatic.publicKey.rawRepresentation)
        presetEphemeral = ephemeral
        symmetric = NoiseSymmetricState(protocolName: Self.protocolName)
        symmetric.mixHash(prologue)
    }

    public var isComplete: Bool { step == 3 }

    /// Whether the next message is ours to write.
    public var isOurTurn: Bool {
        !isComplete && (step % 2 == 0) == (role == .initiator)
    }

    /// The transcript hash; equal on both sides once complete (channel binding).
    public var handshakeHash: [UInt8] { symmetric.handshakeHash }

    public mutating func writeMessage(payload: [UInt8] = []) throws(NoiseError) -> [UInt8] {
        guard isOurTurn else { throw .outOfOrder }
        var message: [UInt8] = []
        switch step {
        case 0:
            writeEphemeral(into: &message)
        case 1:
            writeEphemeral(into: &message)
            try mixDH(localEphemeral, remoteEphemeral)  // ee
            try symmetric.encryptAndHash(localStaticPublic, appendingTo: &message)  // s
            try mixDH(localStatic, remoteEphemeral)  // es (responder side)
        default:
            try symmetric.encryptAndHash(localStaticPublic, appendingTo: &message)  // s
            try mixDH(localStatic, remoteEphemeral)  // se (initiator side)
        }
        try symmetric.encryptAndHash(payload, appendingTo: &message)
        step += 1
        guard message.count <= Self.maximumMessageCount else { throw .malformedMessage("payload too long") }
        return message
    }

    /// Processes the other side's next message and returns its payload.
    public mutating func readMessage(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard !isOurTurn, !isComplete else { throw .outOfOrder }
        guard message.count <= Self.maximumMessageCount else { throw .malformedMessage("\(message.count) bytes") }
        var cursor = message[...]
        switch step {
        case 0:
            try readEphemeral(&cursor)
        case 1:
            try readEphemeral(&cursor)
            try mixDH(localEphemeral, remoteEphemeral)  // ee
            try readStatic(&cursor)  // s
            try mixDH(localEphemeral, remoteStatic?.publicKey)  // es (initiator side)
        default:
            try readStatic(&cursor)  // s
            try mixDH(localEphemeral, remoteStatic?.publicKey)  // se (responder side)
        }
        let payload = try symmetric.decryptAndHash(cursor)
        step += 1
        return payload
    }

    /// After the last message: (send, receive) transport ciphers for this side.
    public func transportCiphers() -> Ciphers {
        precondition(isComplete, "transport ciphers exist only after the handshake")
        let (first, second) = symmetric.split()
        return role == .initiator ? (first, second) : (second, first)
    }

    // MARK: Tokens

    private mutating func writeEphemeral(into message: inout [UInt8]) {
        let ephemeral = presetEphemeral ?? Curve25519.KeyAgreement.PrivateKey()
        presetEphemeral = nil
        localEphemeral = ephemeral
        let publicKey = Array(ephemeral.publicKey.rawRepresentation)
        message += publicKey
        symmetric.mixHash(publicKey)
    }

    private mutating func readEphemeral(_ cursor: inout ArraySlice<UInt8>) throws(NoiseError) {
        guard cursor.count >= Self.keyCount else { throw .malformedMessage("no room for an ephemeral key") }
        let bytes = cursor.prefix(Self.keyCount)
        cursor = cursor.dropFirst(Self.keyCount)
        do {
            remoteEphemeral = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: bytes)
        } catch {
            throw .invalidPublicKey
        }
        symmetric.mixHash(bytes)
    }

    private mutating func readStatic(_ cursor: inout ArraySlice<UInt8>) throws(NoiseError) {
        let count = Self.keyCount + (symmetric.cipher.hasKey ? NoiseCipherState.tagCount : 0)
        guard cursor.count >= count else { throw .malformedMessage("no room for a static key") }
        let plaintext = try symmetric.decryptAndHash(cursor.prefix(count))
        cursor = cursor.dropFirst(count)
        guard let identity = PeerID(publicKeyBytes: plaintext) else { throw .invalidPublicKey }
        remoteStatic = identity
    }

    private mutating func mixDH(
        _ privateKey: Curve25519.KeyAgreement.PrivateKey?, _ publicKey: Curve25519.KeyAgreement.PublicKey?
    ) throws(NoiseError) {
        guard let privateKey, let publicKey else { throw .outOfOrder }
        let shared: [UInt8]
        do {
            shared = try privateKey.sharedSecretFromKeyAgreement(with: publicKey).withUnsafeBytes { Array($0) }
        } catch {
            throw .invalidPublicKey
        }
        // A low-order point gives an all-zero secret: refuse it rather than derive keys from it.
        guard shared.contains(where: { $0 != 0 }) else { throw .invalidPublicKey }
        symmetric.mixKey(shared)
    }
}
