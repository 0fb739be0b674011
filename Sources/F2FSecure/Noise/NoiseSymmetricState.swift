import Crypto
import Foundation

/// Noise `SymmetricState` (§5.2) with SHA-256: the chaining key, the transcript hash and the
/// cipher that handshake payloads and static keys are encrypted with.
struct NoiseSymmetricState {
    static let hashCount = 32
    private(set) var chainingKey: [UInt8]
    private(set) var handshakeHash: [UInt8]
    private(set) var cipher = NoiseCipherState()

    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        if name.count <= Self.hashCount {
            handshakeHash = name + [UInt8](repeating: 0, count: Self.hashCount - name.count)
        } else {
            handshakeHash = Array(SHA256.hash(data: name))
        }
        chainingKey = handshakeHash
    }

    mutating func mixHash(_ data: some DataProtocol) {
        var hasher = SHA256()
        hasher.update(data: handshakeHash)
        hasher.update(data: data)
        handshakeHash = Array(hasher.finalize())
    }

    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let outputs = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
        chainingKey = outputs.0
        cipher.initializeKey(SymmetricKey(data: outputs.1))
    }

    /// `MixKeyAndHash` (§5.2), for a pre-shared key: it enters the chaining key, the
    /// transcript and the cipher key at once.
    mutating func mixKeyAndHash(_ inputKeyMaterial: [UInt8]) {
        let outputs = Self.hkdf3(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
        chainingKey = outputs.0
        mixHash(outputs.1)
        cipher.initializeKey(SymmetricKey(data: outputs.2))
    }

    mutating func encryptAndHash(_ plaintext: [UInt8], appendingTo output: inout [UInt8]) throws(NoiseError) {
        let start = output.count
        try cipher.encrypt(plaintext, associatedData: handshakeHash, appendingTo: &output)
        mixHash(output[start...])
    }

    mutating func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(NoiseError) -> [UInt8] {
        var plaintext: [UInt8] = []
        try cipher.decrypt(ciphertext, associatedData: handshakeHash, appendingTo: &plaintext)
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport ciphers: the initiator sends with the first, the responder with the second.
    func split() -> (NoiseCipherState, NoiseCipherState) {
        let outputs = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: [])
        return (NoiseCipherState(key: SymmetricKey(data: outputs.0)), NoiseCipherState(key: SymmetricKey(data: outputs.1)))
    }

    /// HKDF as §4.3 defines it (RFC 5869 with the chaining key as salt and no info), two outputs.
    static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8]) -> ([UInt8], [UInt8]) {
        let tempKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: inputKeyMaterial, using: SymmetricKey(data: chainingKey)))
        let first = Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: tempKey))
        let second = Array(HMAC<SHA256>.authenticationCode(for: first + [0x02], using: tempKey))
        return (first, second)
    }

    /// The same HKDF with its third output.
    static func hkdf3(chainingKey: [UInt8], inputKeyMaterial: [UInt8]) -> ([UInt8], [UInt8], [UInt8]) {
        let tempKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: inputKeyMaterial, using: SymmetricKey(data: chainingKey)))
        let first = Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: tempKey))
        let second = Array(HMAC<SHA256>.authenticationCode(for: first + [0x02], using: tempKey))
        let third = Array(HMAC<SHA256>.authenticationCode(for: second + [0x03], using: tempKey))
        return (first, second, third)
    }
}
