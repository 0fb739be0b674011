import Crypto

/// The Noise XX handshake, `Noise_XX_25519_ChaChaPoly_SHA256` (spec rev. 34, §7.5):
///
///     -> e
///     <- e, ee, s, es
///     -> s, se
///
/// Both sides learn and prove each other's static key — our long-term identity — and get
/// forward-secret transport keys. XX sends each static key encrypted, so a listener learns no
/// ids, and an initiator reveals its own only after it has checked the responder's.
///
/// XX still lets anyone who sends a first message learn the responder's id from the second
/// (it is encrypted only under a key the prober shares). With a network key the handshake is
/// `Noise_XXpsk0_25519_ChaChaPoly_SHA256` (§9): the key is mixed in before the first
/// message, whose (empty) payload then carries a tag only a holder of the key can produce. A
/// responder checks it before it does any Diffie-Hellman work or writes anything, so a node
/// without the key gets no second message at all. psk3 (the spec's XXpsk3) and psk2 mix the
/// key in after the responder's static key went out, and so would not hide it.
public struct NoiseHandshake {
    public enum Role: Sendable { case initiator, responder }
    public typealias Ciphers = (send: NoiseCipherState, receive: NoiseCipherState)

    public static let protocolName = "Noise_XX_25519_ChaChaPoly_SHA256"
    /// The handshake of nodes configured with a network key.
    public static let networkKeyProtocolName = protocolName(pskPositions: [0])

    /// `Noise_XX`, the psk modifiers in order (`psk0+psk3`), then the primitives (§8, §9.2).
    static func protocolName(pskPositions: [Int]) -> String {
        let modifiers = pskPositions.map { "psk\($0)" }.joined(separator: "+")
        return "Noise_XX\(modifiers)_25519_ChaChaPoly_SHA256"
    }

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
    /// Where pre-shared keys enter (0: before the first message; n: after message n's tokens).
    private let pskPositions: [Int]
    /// The pre-shared keys not mixed in yet, in the order of `pskPositions`.
    private var presharedKeys: ArraySlice<[UInt8]>

    public init(role: Role, localStatic: Curve25519.KeyAgreement.PrivateKey, prologue: [UInt8], networkKey: NetworkKey? = nil) {
        self.init(
            role: role, localStatic: localStatic, presenting: nil, ephemeral: nil, prologue: prologue,
            presharedKeys: networkKey.map { [(position: 0, key: $0.bytes)] } ?? [])
    }

    /// `presenting` and `ephemeral` exist for test vectors and impostor tests only, and so do
    /// pre-shared keys at positions other than 0.
    init(
        role: Role, localStatic: Curve25519.KeyAgreement.PrivateKey, presenting: [UInt8]?,
        ephemeral: Curve25519.KeyAgreement.PrivateKey?, prologue: [UInt8], presharedKeys: [(position: Int, key: [UInt8])] = []
    ) {
        precondition(presharedKeys.allSatisfy { (0...3).contains($0.position) && $0.key.count == Self.keyCount }, "bad pre-shared key")
        self.role = role
        self.localStatic = localStatic
        localStaticPublic = presenting ?? Array(localStatic.publicKey.rawRepresentation)
        presetEphemeral = ephemeral
        pskPositions = presharedKeys.map(\.position)
        self.presharedKeys = presharedKeys.map(\.key)[...]
        symmetric = NoiseSymmetricState(protocolName: Self.protocolName(pskPositions: pskPositions))
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
        mixPresharedKeys(at: step == 0 ? [0] : [])
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
        mixPresharedKeys(at: [step + 1])
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
        mixPresharedKeys(at: step == 0 ? [0] : [])
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
        mixPresharedKeys(at: [step + 1])
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

    /// After the last message: the (send, receive) keys of `Split()` for a datagram session,
    /// whose explicit counters replace the implicit nonces of `transportCiphers()`.
    public func datagramKeys() -> (send: DatagramSessionKey, receive: DatagramSessionKey) {
        precondition(isComplete, "transport keys exist only after the handshake")
        let (first, second) = NoiseSymmetricState.hkdf(chainingKey: symmetric.chainingKey, inputKeyMaterial: [])
        let keys = (DatagramSessionKey(key: SymmetricKey(data: first)), DatagramSessionKey(key: SymmetricKey(data: second)))
        return role == .initiator ? keys : (keys.1, keys.0)
    }

    // MARK: Tokens

    private mutating func writeEphemeral(into message: inout [UInt8]) {
        let ephemeral = presetEphemeral ?? Curve25519.KeyAgreement.PrivateKey()
        presetEphemeral = nil
        localEphemeral = ephemeral
        let publicKey = Array(ephemeral.publicKey.rawRepresentation)
        message += publicKey
        symmetric.mixHash(publicKey)
        // §9.2: with pre-shared keys, `e` also enters the key, so nothing is encrypted under
        // the pre-shared key alone and a reused key never reuses a nonce.
        if !pskPositions.isEmpty { symmetric.mixKey(publicKey) }
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
        if !pskPositions.isEmpty { symmetric.mixKey(Array(bytes)) }
    }

    /// The `psk` tokens at these positions, each taking the next pre-shared key.
    private mutating func mixPresharedKeys(at positions: [Int]) {
        for position in positions where pskPositions.contains(position) {
            guard let key = presharedKeys.popFirst() else { preconditionFailure("pre-shared keys out of step") }
            symmetric.mixKeyAndHash(key)
        }
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
