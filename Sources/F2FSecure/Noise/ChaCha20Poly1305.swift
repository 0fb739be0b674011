import CSodium

/// ChaCha20-Poly1305 (RFC 8439, the IETF variant: 96-bit nonce) over caller buffers, in place:
/// libsodium's detached calls, which take and return the tag apart from the text and allow
/// the output to be the input. swift-crypto's `ChaChaPoly` hands out a new `Data` per call,
/// an allocation per datagram on the UDP path; this allocates nothing.
///
/// Only the datagram path uses it (`NoiseDatagramCipher`); the Noise handshake and the TCP
/// path's records stay on swift-crypto. Both are the same AEAD, so a datagram sealed here
/// opens there and back (the tests check it).
enum ChaCha20Poly1305 {
    static let keyCount = 32
    static let nonceCount = 12
    static let tagCount = 16

    /// libsodium picks its fastest implementations (AVX2 ChaCha20, SSE2 Poly1305) in
    /// `sodium_init`; before it, the portable ones run. Thread-safe and idempotent.
    private static let initialized: Bool = sodium_init() >= 0

    /// Encrypts `text` in place and writes the 16-byte tag to `tag`.
    @inline(__always)
    static func seal(
        _ text: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawPointer, authenticating data: UnsafeRawBufferPointer,
        nonce: UnsafeRawPointer, key: UnsafeRawPointer
    ) {
        precondition(initialized, "libsodium failed to initialize")
        // An empty text has no address; libsodium wants one, and writes nothing through it.
        let base = (text.baseAddress ?? tag).assumingMemoryBound(to: UInt8.self)
        // Fails only for texts longer than libsodium's limit (~256 GiB).
        _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            base, tag.assumingMemoryBound(to: UInt8.self), nil, base, UInt64(text.count),
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count), nil,
            nonce.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self))
    }

    /// Checks `tag` and, only if it is right, decrypts `text` in place. False for a wrong tag
    /// (libsodium then zeroes `text`: nothing unauthenticated is ever handed out).
    @inline(__always)
    static func open(
        _ text: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer, authenticating data: UnsafeRawBufferPointer,
        nonce: UnsafeRawPointer, key: UnsafeRawPointer
    ) -> Bool {
        precondition(initialized, "libsodium failed to initialize")
        guard let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            // An empty text: only the tag to check (libsodium's verify-only call, `m` NULL).
            return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                nil, nil, tag.assumingMemoryBound(to: UInt8.self), 0, tag.assumingMemoryBound(to: UInt8.self),
                data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count),
                nonce.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self)) == 0
        }
        return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            base, nil, base, UInt64(text.count), tag.assumingMemoryBound(to: UInt8.self),
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count),
            nonce.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self)) == 0
    }
}
