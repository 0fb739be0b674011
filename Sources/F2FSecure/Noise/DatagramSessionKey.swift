import Crypto
import Foundation

/// A 32-byte key for one direction of a datagram session, so that providers outside this
/// target can make, send and use one without importing the crypto library. Slice 1 of the UDP
/// path (docs/udp-data-path.md) has each side draw the key for datagrams sent *to* it and hand
/// it to the friend over the Noise-authenticated stream.
public struct DatagramSessionKey: Sendable {
    public static let byteCount = 32
    let key: SymmetricKey

    /// A fresh key from the system's random source.
    public static func random() -> DatagramSessionKey {
        DatagramSessionKey(key: SymmetricKey(size: .bits256))
    }

    init(key: SymmetricKey) {
        self.key = key
    }

    /// Nil unless exactly 32 bytes.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.byteCount else { return nil }
        key = SymmetricKey(data: bytes)
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try key.withUnsafeBytes(body)
    }
}

extension NoiseDatagramCipher {
    /// A session from two one-way keys (each side's own receive key, exchanged over the stream).
    public init(sending: DatagramSessionKey, receiving: DatagramSessionKey, localIndex: UInt32, remoteIndex: UInt32, limits: Limits = Limits()) {
        self.init(sendKey: sending.key, receiveKey: receiving.key, localIndex: localIndex, remoteIndex: remoteIndex, limits: limits)
    }
}
