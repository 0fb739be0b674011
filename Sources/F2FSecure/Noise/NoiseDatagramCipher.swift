import Crypto
import F2FCore

/// Noise transport messages over datagrams: one session's pair of keys (from the handshake's
/// `Split()`) used with an explicit counter per message, as Noise §11.4 suggests and WireGuard
/// does, because datagrams are lost, duplicated and reordered and an implicit nonce
/// (`NoiseCipherState`, for the TCP path) cannot follow that.
///
/// A transport datagram, 16 bytes of header then the AEAD ciphertext and tag (little-endian, as
/// WireGuard's):
///
///     0     1..3      4..7             8..15     16...
///     type  reserved  receiver index   counter   ChaCha20-Poly1305(plaintext), 16-byte tag
///
/// The counter is the AEAD nonce (4 zero bytes then the counter little-endian, Noise §12.3);
/// the header is the associated data, so a datagram moved to another session or with a changed
/// counter fails authentication. On receiving, the replay window is consulted before decrypting
/// (stale and replayed datagrams cost no AEAD work) and updated only after the AEAD check, so a
/// forged datagram never moves it.
///
/// The key is never changed in place (a reordered datagram from before a §11.3 `Rekey()` could
/// not be opened); instead a session reports when it is due for a new handshake, by messages or
/// age, and refuses to seal or open past WireGuard's hard limits. The caller, which owns the
/// session's timers, passes its age (this target has no clock and no `Instant`).
///
/// The AEAD runs in place over the caller's buffer (`ChaCha20Poly1305`, BoringSSL's AEAD): sealing
/// and opening a datagram allocate nothing, and the provider builds datagrams straight into
/// its send slots and reads plaintext where the datagram was received.
public struct NoiseDatagramCipher: Sendable {
    public static let messageType: UInt8 = 4
    public static let headerCount = 16
    public static let tagCount = 16
    public static let overhead = headerCount + tagCount

    public struct Limits: Sendable {
        /// After this many messages sealed, `sealed` reports `.rekeyDue` (WireGuard: 2^60).
        public var rekeyAfterMessages: UInt64
        /// Nothing is sealed or accepted with a counter this high or higher (WireGuard:
        /// 2^64 − 2^13 − 1, a window's width below the nonce Noise reserves).
        public var rejectAfterMessages: UInt64
        /// After this age, `sealed` reports `.rekeyDue` (WireGuard: 120 s).
        public var rekeyAfterTime: Duration
        /// After this age the session neither seals nor opens (WireGuard: 180 s).
        public var rejectAfterTime: Duration

        public init(
            rekeyAfterMessages: UInt64 = 1 << 60, rejectAfterMessages: UInt64 = .max - (1 << 13),
            rekeyAfterTime: Duration = .seconds(120), rejectAfterTime: Duration = .seconds(180)
        ) {
            self.rekeyAfterMessages = rekeyAfterMessages
            self.rejectAfterMessages = rejectAfterMessages
            self.rekeyAfterTime = rekeyAfterTime
            self.rejectAfterTime = rejectAfterTime
        }
    }

    public enum SealStatus: Equatable, Sendable {
        case sealed
        /// Sealed, and the session should be replaced by a new handshake soon.
        case rekeyDue
    }

    public enum SealError: Error, Equatable, Sendable {
        /// The counter or the session's age reached the reject limit: a new handshake is needed.
        case sessionExpired
    }

    /// Why a received datagram was dropped. None of these ends the link: on a datagram path
    /// anyone can send anything, so a bad datagram is counted and forgotten.
    public enum Rejection: Error, Equatable, Sendable {
        /// Shorter than header and tag, or not a transport message.
        case malformed
        /// For another session (the caller routes by receiver index; this is its check).
        case wrongReceiver
        /// Behind the replay window.
        case tooOld
        /// Already received.
        case duplicate
        /// AEAD authentication failed: forged, modified or another key.
        case forged
        /// A counter at or beyond the reject limit, or a session past its age.
        case sessionExpired
    }

    public struct Counters: Equatable, Sendable {
        public var sealed: UInt64 = 0
        public var opened: UInt64 = 0
        public var malformed: UInt64 = 0
        public var wrongReceiver: UInt64 = 0
        public var tooOld: UInt64 = 0
        public var duplicates: UInt64 = 0
        public var forged: UInt64 = 0
        public var expired: UInt64 = 0
        public init() {}
    }

    /// 32 key bytes held inline, so that using them costs no allocation and no indirection.
    struct Key: Sendable {
        private var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        init(_ key: SymmetricKey) {
            key.withUnsafeBytes { source in
                precondition(source.count == ChaCha20Poly1305.keyCount, "a 256-bit key")
                withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: source) }
            }
        }

        @inline(__always)
        func withUnsafeBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
            Swift.withUnsafeBytes(of: bytes) { body($0.baseAddress!) }
        }
    }

    private let sendKey: Key
    private let receiveKey: Key
    /// The index the peer chose for this session: written into every datagram we send.
    public let remoteIndex: UInt32
    /// Our index for this session: every datagram we accept names it.
    public let localIndex: UInt32
    public let limits: Limits
    public private(set) var sendCounter: UInt64 = 0
    public private(set) var counters = Counters()
    private var replay: ReplayWindow

    public init(
        sendKey: SymmetricKey, receiveKey: SymmetricKey, localIndex: UInt32, remoteIndex: UInt32,
        limits: Limits = Limits(), replayWindowBits: Int = 2048
    ) {
        self.sendKey = Key(sendKey)
        self.receiveKey = Key(receiveKey)
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.limits = limits
        replay = ReplayWindow(bits: replayWindowBits)
    }

    /// Seals in place: `datagram` holds the plaintext after `headerCount` bytes of room and
    /// has `tagCount` more bytes of room after it (`plaintextCount + overhead` in all). Writes
    /// the header in front, encrypts, and writes the tag behind; the datagram is then the
    /// first `plaintextCount + overhead` bytes.
    public mutating func seal(
        inPlace datagram: UnsafeMutableRawBufferPointer, plaintextCount: Int, sessionAge age: Duration
    ) throws(SealError) -> SealStatus {
        precondition(datagram.count >= plaintextCount + Self.overhead, "room for header and tag")
        let text = UnsafeRawBufferPointer(rebasing: datagram[Self.headerCount..<Self.headerCount + plaintextCount])
        return try seal(text, into: datagram, sessionAge: age)
    }

    /// Seals `plaintext`, which lies elsewhere, into `datagram` (at least `plaintext.count +
    /// overhead` bytes): encrypting it there is its copy, so the sender's packet is read once.
    public mutating func seal(
        copying plaintext: UnsafeRawBufferPointer, into datagram: UnsafeMutableRawBufferPointer, sessionAge age: Duration
    ) throws(SealError) -> SealStatus {
        precondition(datagram.count >= plaintext.count + Self.overhead, "room for header and tag")
        return try seal(plaintext, into: datagram, sessionAge: age)
    }

    @inline(__always)
    private mutating func seal(
        _ text: UnsafeRawBufferPointer, into datagram: UnsafeMutableRawBufferPointer, sessionAge age: Duration
    ) throws(SealError) -> SealStatus {
        guard sendCounter < limits.rejectAfterMessages, age < limits.rejectAfterTime else { throw .sessionExpired }
        let counter = sendCounter
        sendCounter += 1
        Self.writeHeader(receiver: remoteIndex, counter: counter, to: datagram)
        let header = UnsafeRawBufferPointer(rebasing: datagram[0..<Self.headerCount])
        let output = datagram.baseAddress! + Self.headerCount
        let tag = output + text.count
        Self.withNonce(counter) { nonce in
            sendKey.withUnsafeBytes { key in
                ChaCha20Poly1305.seal(text, into: output, tag: tag, authenticating: header, nonce: nonce, key: key)
            }
        }
        counters.sealed += 1
        return sendCounter >= limits.rekeyAfterMessages || age >= limits.rekeyAfterTime ? .rekeyDue : .sealed
    }

    /// Replaces `datagram`'s contents (keeping its capacity) with the transport message
    /// carrying `plaintext` under the next counter (a copy, then `seal(inPlace:)`).
    public mutating func seal(
        _ plaintext: some Collection<UInt8>, into datagram: inout [UInt8], sessionAge age: Duration
    ) throws(SealError) -> SealStatus {
        datagram.removeAll(keepingCapacity: true)
        datagram.append(contentsOf: repeatElement(0, count: Self.headerCount))
        datagram.append(contentsOf: plaintext)
        datagram.append(contentsOf: repeatElement(0, count: Self.tagCount))
        let count = plaintext.count
        let result = datagram.withUnsafeMutableBytes { bytes in
            Result { () throws(SealError) in try seal(inPlace: bytes, plaintextCount: count, sessionAge: age) }
        }
        return try result.get()
    }

    /// The receiver index of a transport datagram, for routing it to its session; nil when it
    /// is not one. One length check and a read: the cost of a stranger's datagram.
    public static func receiverIndex(of datagram: UnsafeRawBufferPointer) -> UInt32? {
        guard datagram.count >= overhead, datagram[0] == messageType else { return nil }
        return littleEndianUInt32(datagram, at: 4)
    }

    /// Opens `datagram` in place: on success its plaintext is `plaintext(of: datagram)`, and
    /// the counter it carried is returned. On failure the bytes may have been changed. Every
    /// check before the AEAD (shape, index, age, replay window) only reads.
    public mutating func open(inPlace datagram: UnsafeMutableRawBufferPointer, sessionAge: Duration) -> Result<UInt64, Rejection> {
        let bytes = UnsafeRawBufferPointer(datagram)
        guard let receiver = Self.receiverIndex(of: bytes) else { return reject(.malformed) }
        guard receiver == localIndex else { return reject(.wrongReceiver) }
        let counter = Self.littleEndianUInt64(bytes, at: 8)
        guard counter < limits.rejectAfterMessages, sessionAge < limits.rejectAfterTime else { return reject(.sessionExpired) }
        switch replay.verdict(for: counter) {
        case .accepted: break
        case .duplicate: return reject(.duplicate)
        case .tooOld: return reject(.tooOld)
        }
        let text = UnsafeMutableRawBufferPointer(rebasing: datagram[Self.headerCount..<datagram.count - Self.tagCount])
        let header = UnsafeRawBufferPointer(rebasing: bytes[0..<Self.headerCount])
        let tag = bytes.baseAddress! + datagram.count - Self.tagCount
        let authentic = Self.withNonce(counter) { nonce in
            receiveKey.withUnsafeBytes { key in ChaCha20Poly1305.open(text, tag: tag, authenticating: header, nonce: nonce, key: key) }
        }
        guard authentic else { return reject(.forged) }
        // Only now, authenticated, may the counter move the window.
        replay.accept(counter)
        counters.opened += 1
        return .success(counter)
    }

    /// The plaintext of a datagram `open(inPlace:)` accepted.
    @inline(__always)
    public static func plaintext(of datagram: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: datagram[headerCount..<datagram.count - tagCount])
    }

    /// Opens a copy of `datagram`, replacing `plaintext`'s contents (keeping its capacity); the
    /// counter it carried on success.
    public mutating func open(_ datagram: UnsafeRawBufferPointer, plaintext: inout [UInt8], sessionAge: Duration) -> Result<UInt64, Rejection> {
        plaintext.removeAll(keepingCapacity: true)
        plaintext.append(contentsOf: datagram)
        let result = plaintext.withUnsafeMutableBytes { open(inPlace: $0, sessionAge: sessionAge) }
        if case .success = result {
            plaintext.removeLast(Self.tagCount)
            plaintext.removeFirst(Self.headerCount)
        } else {
            plaintext.removeAll(keepingCapacity: true)
        }
        return result
    }

    private mutating func reject(_ rejection: Rejection) -> Result<UInt64, Rejection> {
        switch rejection {
        case .malformed: counters.malformed += 1
        case .wrongReceiver: counters.wrongReceiver += 1
        case .tooOld: counters.tooOld += 1
        case .duplicate: counters.duplicates += 1
        case .forged: counters.forged += 1
        case .sessionExpired: counters.expired += 1
        }
        return .failure(rejection)
    }

    private static func writeHeader(receiver: UInt32, counter: UInt64, to datagram: UnsafeMutableRawBufferPointer) {
        datagram[0] = messageType
        for index in 1..<4 { datagram[index] = 0 }  // reserved
        for index in 0..<4 { datagram[4 + index] = UInt8(truncatingIfNeeded: receiver >> UInt32(8 * index)) }
        for index in 0..<8 { datagram[8 + index] = UInt8(truncatingIfNeeded: counter >> UInt64(8 * index)) }
    }

    private static func littleEndianUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    private static func littleEndianUInt64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
    }

    /// 32 bits of zeros, then the counter little-endian (§12.3), on the stack.
    @inline(__always)
    private static func withNonce<R>(_ counter: UInt64, _ body: (UnsafeRawPointer) -> R) -> R {
        let nonce: (UInt32, UInt32, UInt32) = (0, UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        return withUnsafeBytes(of: nonce) { body($0.baseAddress!) }
    }
}
