import Crypto
import Foundation

/// Noise `CipherState` (spec rev. 34, §5.1) for ChaChaPoly: a key and a counter nonce. The
/// nonce is implicit, so a replayed, dropped or reordered message fails authentication.
public struct NoiseCipherState: Sendable {
    static let tagCount = 16
    private var key: SymmetricKey?
    public private(set) var nonce: UInt64 = 0
    /// Transport ciphers replace their key after every this many messages (§11.3), so a
    /// long-lived link never has more than that much traffic under one key. Both ends count
    /// the same messages in the same order (records travel over TCP), so no signal is needed;
    /// nil (handshake ciphers) never rekeys.
    var rekeyInterval: UInt64?

    init(key: SymmetricKey? = nil) {
        self.key = key
    }

    var hasKey: Bool { key != nil }

    mutating func initializeKey(_ key: SymmetricKey) {
        self.key = key
        nonce = 0
    }

    /// Plaintext in, ciphertext and tag appended to `output`. Without a key the plaintext
    /// passes through, as the spec says for the first handshake messages.
    mutating func encrypt(
        _ plaintext: some DataProtocol, associatedData: some DataProtocol, appendingTo output: inout [UInt8]
    ) throws(NoiseError) {
        guard key != nil else {
            output.append(contentsOf: plaintext)
            return
        }
        let sealed = try seal(plaintext, associatedData: associatedData)
        output.append(contentsOf: sealed.ciphertext)
        output.append(contentsOf: sealed.tag)
    }

    /// The transport path: ciphertext and tag as the library returns them, not copied again.
    mutating func seal(_ plaintext: some DataProtocol, associatedData: some DataProtocol) throws(NoiseError) -> (ciphertext: Data, tag: Data) {
        guard let key else { preconditionFailure("sealing needs a key") }
        let nonce = try nextNonce()
        // Sealing fails only on a key or nonce of the wrong size; ours are 32 and 12 bytes.
        let box = try! ChaChaPoly.seal(plaintext, using: key, nonce: nonce, authenticating: associatedData)
        rekeyIfDue()
        return (box.ciphertext, box.tag)
    }

    /// Ciphertext (with its tag) in, plaintext appended to `output`. The nonce advances only on
    /// success, as §5.1 requires.
    mutating func decrypt(
        _ ciphertext: some DataProtocol, associatedData: some DataProtocol, appendingTo output: inout [UInt8]
    ) throws(NoiseError) {
        guard key != nil else {
            output.append(contentsOf: ciphertext)
            return
        }
        output.append(contentsOf: try open(ciphertext, associatedData: associatedData))
    }

    /// The transport path: the plaintext as the library returns it, not copied again.
    mutating func open<Sealed: DataProtocol>(_ ciphertext: Sealed, associatedData: some DataProtocol) throws(NoiseError) -> Data {
        guard let key else { preconditionFailure("opening needs a key") }
        guard ciphertext.count >= Self.tagCount else { throw .malformedMessage("shorter than its tag") }
        guard self.nonce != .max else { throw .nonceExhausted }
        do {
            let split = ciphertext.index(ciphertext.endIndex, offsetBy: -Self.tagCount)
            let box = try ChaChaPoly.SealedBox(
                nonce: Self.nonce(self.nonce), ciphertext: ciphertext[..<split], tag: ciphertext[split...])
            let plaintext = try ChaChaPoly.open(box, using: key, authenticating: associatedData)
            self.nonce += 1
            rekeyIfDue()
            return plaintext
        } catch {
            throw .decryptionFailed
        }
    }

    /// `Rekey()` (§11.3): the new key is the first 32 bytes of ENCRYPT(k, 2^64 − 1, empty,
    /// 32 zeros), which no message can be sealed with since that nonce is reserved. The nonce
    /// keeps counting, so one nonce is never used twice with related keys either.
    mutating func rekey() {
        guard let key else { preconditionFailure("rekeying needs a key") }
        let zeros = [UInt8](repeating: 0, count: 32)
        let box = try! ChaChaPoly.seal(zeros, using: key, nonce: Self.nonce(.max), authenticating: [UInt8]())  // sizes valid
        self.key = SymmetricKey(data: box.ciphertext.prefix(32))
    }

    private mutating func rekeyIfDue() {
        guard let interval = rekeyInterval, interval > 0, nonce % interval == 0 else { return }
        rekey()
    }

    private mutating func nextNonce() throws(NoiseError) -> ChaChaPoly.Nonce {
        guard nonce != .max else { throw .nonceExhausted }
        let value = Self.nonce(nonce)
        nonce += 1
        return value
    }

    /// 32 bits of zeros, then the counter little-endian (§12.3).
    private static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        return try! ChaChaPoly.Nonce(data: bytes)  // 12 bytes: always valid
    }
}
