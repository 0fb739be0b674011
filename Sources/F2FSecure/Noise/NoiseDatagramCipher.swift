import Crypto
import F2FCore
import Foundation

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

    private let sendKey: SymmetricKey
    private let receiveKey: SymmetricKey
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
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.limits = limits
        replay = ReplayWindow(bits: replayWindowBits)
    }

    /// Replaces `datagram`'s contents (keeping its capacity) with the transport message
    /// carrying `plaintext` under the next counter.
    public mutating func seal(_ plaintext: some DataProtocol, into datagram: inout [UInt8], sessionAge age: Duration) throws(SealError) -> SealStatus {
        guard sendCounter < limits.rejectAfterMessages, age < limits.rejectAfterTime else { throw .sessionExpired }
        let counter = sendCounter
        sendCounter += 1
        datagram.removeAll(keepingCapacity: true)
        Self.appendHeader(receiver: remoteIndex, counter: counter, to: &datagram)
        // Sealing fails only on a key or nonce of the wrong size; ours are 32 and 12 bytes.
        let box = try! ChaChaPoly.seal(
            plaintext, using: sendKey, nonce: Self.nonce(counter), authenticating: datagram[0..<Self.headerCount])
        Self.append(box.ciphertext, to: &datagram)
        Self.append(box.tag, to: &datagram)
        counters.sealed += 1
        return sendCounter >= limits.rekeyAfterMessages || age >= limits.rekeyAfterTime ? .rekeyDue : .sealed
    }

    /// The receiver index of a transport datagram, for routing it to its session; nil when it
    /// is not one. One length check and a read: the cost of a stranger's datagram.
    public static func receiverIndex(of datagram: UnsafeRawBufferPointer) -> UInt32? {
        guard datagram.count >= overhead, datagram[0] == messageType else { return nil }
        return littleEndianUInt32(datagram, at: 4)
    }

    /// Opens `datagram`, replacing `plaintext`'s contents (keeping its capacity); the counter it
    /// carried on success.
    public mutating func open(_ datagram: UnsafeRawBufferPointer, plaintext: inout [UInt8], sessionAge: Duration) -> Result<UInt64, Rejection> {
        guard let receiver = Self.receiverIndex(of: datagram) else { return reject(.malformed) }
        guard receiver == localIndex else { return reject(.wrongReceiver) }
        let counter = Self.littleEndianUInt64(datagram, at: 8)
        guard counter < limits.rejectAfterMessages, sessionAge < limits.rejectAfterTime else { return reject(.sessionExpired) }
        switch replay.verdict(for: counter) {
        case .accepted: break
        case .duplicate: return reject(.duplicate)
        case .tooOld: return reject(.tooOld)
        }
        let header = UnsafeRawBufferPointer(rebasing: datagram[0..<Self.headerCount]).bindMemory(to: UInt8.self)
        do {
            // The sealed box as one buffer built with one copy: `SealedBox(nonce:ciphertext:tag:)`
            // concatenates with generic appends, byte by byte and with two more allocations
            // (a tenth of a receiving switch's time in a profile).
            let sealed = datagram.count - Self.headerCount
            var combined = Data(count: 12 + sealed)
            combined.withUnsafeMutableBytes { out in
                for index in 0..<8 { out[4 + index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
                UnsafeMutableRawBufferPointer(rebasing: out[12...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: datagram[Self.headerCount...]))
            }
            let box = try ChaChaPoly.SealedBox(combined: combined)
            let opened = try ChaChaPoly.open(box, using: receiveKey, authenticating: header)
            plaintext.removeAll(keepingCapacity: true)
            Self.append(opened, to: &plaintext)
        } catch {
            return reject(.forged)
        }
        // Only now, authenticated, may the counter move the window.
        replay.accept(counter)
        counters.opened += 1
        return .success(counter)
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

    /// Appends `data` with one copy (`Array.append(contentsOf: Data)` goes byte by byte).
    private static func append(_ data: Data, to output: inout [UInt8]) {
        data.withUnsafeBytes { raw in output.append(contentsOf: raw.bindMemory(to: UInt8.self)) }
    }

    private static func appendHeader(receiver: UInt32, counter: UInt64, to output: inout [UInt8]) {
        output.append(messageType)
        for _ in 0..<3 { output.append(0) }  // reserved
        for shift in stride(from: 0, to: 32, by: 8) { output.append(UInt8(truncatingIfNeeded: receiver >> UInt32(shift))) }
        for shift in stride(from: 0, to: 64, by: 8) { output.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift))) }
    }

    private static func littleEndianUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    private static func littleEndianUInt64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
    }

    /// 32 bits of zeros, then the counter little-endian (§12.3), built on the stack.
    private static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 12) { bytes in
            for index in 0..<4 { bytes[index] = 0 }
            for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
            return try! ChaChaPoly.Nonce(data: UnsafeRawBufferPointer(bytes))  // 12 bytes: always valid
        }
    }
}
