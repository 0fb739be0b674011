import CF2FAEAD

/// ChaCha20-Poly1305 (RFC 8439, the IETF variant: 96-bit nonce) over caller buffers:
/// BoringSSL's AEAD (through `CF2FAEAD`), which encrypts and authenticates in one pass of AVX2
/// assembly and allows the output to be the input. swift-crypto's `ChaChaPoly` runs the same
/// code but hands out a new `Data` per call, an allocation per datagram on the UDP path; this
/// allocates nothing. (Until issue 15's GSO work it was libsodium, whose separate ChaCha20 and
/// Poly1305 passes took twice the instructions: 16 000 against 8 000 per 1514-byte frame.)
///
/// Only the datagram path uses it (`NoiseDatagramCipher`); the Noise handshake and the TCP
/// path's records go through swift-crypto. Both are the same AEAD, so a datagram sealed here
/// opens there and back (the tests check it).
enum ChaCha20Poly1305 {
    static let keyCount = 32
    static let nonceCount = 12
    static let tagCount = 16

    /// Encrypts `text` in place and writes the 16-byte tag to `tag`.
    @inline(__always)
    static func seal(
        _ text: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawPointer, authenticating data: UnsafeRawBufferPointer,
        nonce: UnsafeRawPointer, key: UnsafeRawPointer
    ) {
        seal(UnsafeRawBufferPointer(text), into: text.baseAddress, tag: tag, authenticating: data, nonce: nonce, key: key)
    }

    /// Encrypts `text` into `output` (`text.count` bytes there, not overlapping `text` unless
    /// it is `text`) and writes the 16-byte tag to `tag`: the copy and the encryption in one pass.
    @inline(__always)
    static func seal(
        _ text: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer?, tag: UnsafeMutableRawPointer,
        authenticating data: UnsafeRawBufferPointer, nonce: UnsafeRawPointer, key: UnsafeRawPointer
    ) {
        // An empty text has no address; BoringSSL wants one, and writes nothing through it.
        let out = (output ?? tag).assumingMemoryBound(to: UInt8.self)
        let sealed = cf2f_chacha20poly1305_seal(
            out, text.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(out), text.count,
            tag.assumingMemoryBound(to: UInt8.self),
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
            nonce.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self))
        // Fails only for arguments of the wrong size, which are constants here.
        precondition(sealed == 1, "ChaCha20-Poly1305 seal")
    }

    /// Checks `tag` and, only if it is right, decrypts `text` in place. False for a wrong tag
    /// (`text` is then zeroed: nothing unauthenticated is ever handed out).
    @inline(__always)
    static func open(
        _ text: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer, authenticating data: UnsafeRawBufferPointer,
        nonce: UnsafeRawPointer, key: UnsafeRawPointer
    ) -> Bool {
        // An empty text: only the tag to check; BoringSSL wants an address, and writes nothing.
        let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafeMutablePointer(mutating: tag.assumingMemoryBound(to: UInt8.self))
        return cf2f_chacha20poly1305_open(
            base, text.count, tag.assumingMemoryBound(to: UInt8.self),
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count,
            nonce.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self)) == 1
    }
}
