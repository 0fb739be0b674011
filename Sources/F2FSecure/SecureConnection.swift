import F2FCore
import Foundation
import Logging

/// The encrypted provider: a `Connection` layered over any other (TCP in production). It runs
/// the Noise XX handshake, refuses anyone `authorize` turns down, then carries the byte stream
/// in Noise transport messages, each framed by a 2-byte big-endian length (spec §13). The
/// packet layer above sees an ordinary connection that becomes established once the other
/// side is authenticated.
///
/// Writes coalesce into one record per `flush()` (up to 65 519 bytes of plaintext), so bulk
/// traffic costs one seal per 64 KiB and a burst of small packets one seal per burst.
public final class SecureConnection: Connection, ConnectionEvents {
    public struct Counters: Sendable {
        public var recordsIn: UInt64 = 0
        public var recordsOut: UInt64 = 0
        public var authenticationFailures: UInt64 = 0
    }

    private enum Phase {
        case awaitingTransport
        case handshaking
        case established
        case closed
    }

    static let maximumRecordCount = 65535
    static let maximumPlaintextCount = maximumRecordCount - NoiseCipherState.tagCount
    /// v2: transport keys are rekeyed every `defaultRekeyInterval` records. A v1 node would
    /// lose the link at the first rekey; with another prologue it fails the handshake instead.
    static let prologue = Array("f2f-switch link v2".utf8)
    /// Records per direction between two rekeys: at most 64 GiB under one key, and a rekey
    /// (one ChaCha20 block) every million records costs nothing measurable.
    static let defaultRekeyInterval: UInt64 = 1 << 20

    public weak var events: (any ConnectionEvents)?
    public let inner: any Connection
    public var remoteDescription: String { inner.remoteDescription }
    /// The authenticated id of the other side, once the handshake got that far.
    public private(set) var remoteID: PeerID?
    public private(set) var counters = Counters()

    /// The other side's key once the handshake is complete: what the core keeps one link per.
    public var authenticatedIdentity: AuthenticatedIdentity? {
        guard case .established = phase, let remoteID else { return nil }
        return AuthenticatedIdentity(publicKey: remoteID.bytes)
    }

    private var phase: Phase
    private var handshake: NoiseHandshake?
    private var sendCipher = NoiseCipherState()
    private var receiveCipher = NoiseCipherState()
    /// Set before the handshake completes; tests lower it to watch keys change.
    var rekeyInterval = SecureConnection.defaultRekeyInterval
    private let authorize: (PeerID) -> String?
    private let post: (@escaping () -> Void) -> Void
    private let logger: Logger
    /// Warnings a stranger can trigger at will go through here when set.
    private let warnings: ThrottledLogger?
    private var outerInterest: CommInterest = []
    private var readabilityPosted = false
    private var innerEnded = false
    /// A responder asks `admitHandshake` before answering the first message; an initiator's
    /// first message in is the answer to its own.
    private var awaitsAdmission: Bool

    /// Asked once by a responder, when the first handshake message has arrived whole and
    /// before any Diffie-Hellman work is done for it (the answer costs two): nil lets the
    /// handshake go on, a reason closes the connection. A listener bounds how much of that
    /// work strangers can ask for, and learns who has spoken in time.
    public var admitHandshake: (() -> String?)?

    /// Records as they arrive: room for one whole record plus the start of the next.
    private let cipherIn: UnsafeMutableRawBufferPointer
    private var cipherInStart = 0
    private var cipherInEnd = 0
    /// The last record's plaintext, as the library returned it; read from `plainInStart`.
    private var plainIn = Data()
    private var plainInStart = 0
    /// Plaintext written since the last seal.
    private let plainOut: UnsafeMutableRawBufferPointer
    private var plainOutCount = 0
    /// Sealed records the inner connection has not taken yet.
    private var cipherOut: [UInt8] = []
    private var cipherOutStart = 0

    /// - Parameters:
    ///   - isConnected: false for an outgoing connection still connecting; the handshake then
    ///     starts at its `connectionEstablished`.
    ///   - networkKey: the network's pre-shared key (XXpsk0), if it has one; both ends must agree.
    ///   - authorize: nil to accept the authenticated id, or the reason it is refused.
    ///   - post: runs work after the current dispatch (the event loop's), to announce input that
    ///     is already decrypted and so raises no readiness of its own.
    public init(
        over inner: any Connection, role: NoiseHandshake.Role, identity: IdentityKey, networkKey: NetworkKey? = nil, isConnected: Bool,
        authorize: @escaping (PeerID) -> String?, logger: Logger, warnings: ThrottledLogger? = nil,
        post: @escaping (@escaping () -> Void) -> Void
    ) {
        self.inner = inner
        self.authorize = authorize
        self.logger = logger
        self.warnings = warnings
        awaitsAdmission = role == .responder
        self.post = post
        handshake = NoiseHandshake(role: role, localStatic: identity.privateKey, prologue: Self.prologue, networkKey: networkKey)
        cipherIn = .allocate(byteCount: 2 * (2 + Self.maximumRecordCount), alignment: 16)
        plainOut = .allocate(byteCount: Self.maximumPlaintextCount, alignment: 16)
        cipherOut.reserveCapacity(2 + Self.maximumRecordCount)
        phase = .awaitingTransport
        inner.events = self
        if isConnected { beginHandshake() }
    }

    deinit {
        inner.events = nil
        cipherIn.deallocate()
        plainOut.deallocate()
    }

    public var isEstablished: Bool { phase == .established }

    /// Ends the link from outside (handshake timeout, friend removed); reported as closed.
    public func abort(_ reason: String) {
        fail(CommError(errno: POSIXErrorCode.ETIMEDOUT.rawValue, message: reason))
    }

    // MARK: Connection

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(CommError) -> CommReadResult {
        switch phase {
        case .closed: throw CommError(errno: POSIXErrorCode.EBADF.rawValue, operation: "read on closed connection")
        case .awaitingTransport, .handshaking: return .wouldBlock
        case .established: break
        }
        while plainInStart == plainIn.endIndex {
            if let record = nextRecord() {
                try open(record)
                continue
            }
            if innerEnded { return .endOfStream }
            switch try fillCipherIn() {
            case .bytes: continue
            case .wouldBlock: return .wouldBlock
            case .endOfStream: return .endOfStream
            }
        }
        let count = min(buffer.count, plainIn.endIndex - plainInStart)
        plainIn.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + (plainInStart - plainIn.startIndex), byteCount: count)
        }
        plainInStart += count
        return .bytes(count)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(CommError) -> Int {
        switch phase {
        case .closed: throw CommError(errno: POSIXErrorCode.EBADF.rawValue, operation: "write on closed connection")
        case .awaitingTransport, .handshaking: return 0
        case .established: break
        }
        var taken = 0
        while taken < bytes.count {
            if plainOutCount == plainOut.count {
                try sealPlaintext()
                if plainOutCount == plainOut.count { break }
            }
            let count = min(bytes.count - taken, plainOut.count - plainOutCount)
            (plainOut.baseAddress! + plainOutCount).copyMemory(from: bytes.baseAddress! + taken, byteCount: count)
            plainOutCount += count
            taken += count
        }
        return taken
    }

    public func flush() {
        guard phase == .established, sealAndFlush() else { return }
        updateInnerInterest()
    }

    /// Seals what was written and pushes it out; false if the link failed doing so.
    private func sealAndFlush() -> Bool {
        do {
            try sealPlaintext()
        } catch {
            fail(error)
            return false
        }
        inner.flush()
        return true
    }

    public func reconfigure(_ interest: CommInterest) {
        guard phase != .closed else { return }
        outerInterest = interest
        updateInnerInterest()
        announceBufferedInput()
    }

    public func close() {
        guard phase != .closed else { return }
        phase = .closed
        handshake = nil
        inner.events = nil
        inner.close()
    }

    // MARK: ConnectionEvents (from the inner connection)

    public func connectionEstablished(_ connection: any Connection) {
        if phase == .awaitingTransport { beginHandshake() }
    }

    public func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {
        switch phase {
        case .handshaking:
            if writable { drainOrFail() }
            if readable { advanceHandshake() }
        case .established:
            if writable, !sealAndFlush() { return }
            let outerReadable = readable && outerInterest.contains(.readable)
            let outerWritable = writable && outerInterest.contains(.writable) && plainOutCount < plainOut.count
            if outerReadable || outerWritable {
                events?.connectionIsReady(self, readable: outerReadable, writable: outerWritable)
            }
            guard phase == .established else { return }
            updateInnerInterest()
            announceBufferedInput()
        case .awaitingTransport, .closed:
            break
        }
    }

    public func connectionClosed(_ connection: any Connection, error: CommError?) {
        guard phase != .closed else { return }
        phase = .closed
        handshake = nil
        inner.events = nil
        events?.connectionClosed(self, error: error)
    }

    // MARK: Handshake

    private func beginHandshake() {
        phase = .handshaking
        if handshake?.isOurTurn == true { sendHandshakeMessage() }
        updateInnerInterest()
    }

    private func sendHandshakeMessage() {
        guard var state = handshake else { return }
        do {
            let message = try state.writeMessage()
            handshake = state
            appendRecord(message)
            try drainCipherOut()
        } catch let error as NoiseError {
            failHandshake(error)
            return
        } catch {
            fail(error as? CommError ?? CommError(errno: POSIXErrorCode.EIO.rawValue, operation: "handshake"))
            return
        }
        inner.flush()
        if state.isComplete { finishHandshake(state) }
    }

    private func advanceHandshake() {
        while phase == .handshaking, var state = handshake {
            guard let record = nextRecord(limit: NoiseHandshake.maximumMessageCount) else {
                if phase != .handshaking { return }
                do {
                    switch try fillCipherIn() {
                    case .bytes: continue
                    case .wouldBlock: return
                    case .endOfStream:
                        fail(CommError(errno: POSIXErrorCode.ECONNRESET.rawValue, message: "closed by \(remoteDescription) during the Noise handshake"))
                        return
                    }
                } catch {
                    fail(error)
                    return
                }
            }
            if awaitsAdmission {
                awaitsAdmission = false
                if let refusal = admitHandshake?() {
                    fail(CommError(errno: POSIXErrorCode.EBUSY.rawValue, message: "handshake from \(remoteDescription) not admitted: \(refusal)"))
                    return
                }
            }
            do {
                _ = try state.readMessage(Array(record))
            } catch {
                failHandshake(error)
                return
            }
            handshake = state
            if let id = state.remoteStatic, remoteID == nil {
                remoteID = id
                if let refusal = authorize(id) {
                    warn("refused-peer", "refused peer", metadata: ["id": "\(id)", "address": "\(remoteDescription)", "reason": "\(refusal)"])
                    fail(CommError(errno: POSIXErrorCode.EACCES.rawValue, message: "refused \(id): \(refusal)"))
                    return
                }
            }
            if state.isComplete {
                finishHandshake(state)
            } else if state.isOurTurn {
                sendHandshakeMessage()
            }
        }
    }

    private func finishHandshake(_ state: NoiseHandshake) {
        (sendCipher, receiveCipher) = state.transportCiphers()
        sendCipher.rekeyInterval = rekeyInterval
        receiveCipher.rekeyInterval = rekeyInterval
        handshake = nil
        phase = .established
        logger.debug("link authenticated", metadata: ["id": "\(remoteID.map(String.init(describing:)) ?? "?")", "address": "\(remoteDescription)"])
        updateInnerInterest()
        events?.connectionEstablished(self)
        guard phase == .established else { return }
        announceBufferedInput()
    }

    private func failHandshake(_ error: NoiseError) {
        warn("handshake-failed", "Noise handshake failed", metadata: ["address": "\(remoteDescription)", "error": "\(error)"])
        fail(CommError(errno: POSIXErrorCode.EPROTO.rawValue, message: "Noise handshake with \(remoteDescription) failed: \(error)"))
    }

    // MARK: Records

    /// The next complete record in `cipherIn`, consumed; nil if it has not all arrived.
    private func nextRecord(limit: Int = maximumRecordCount) -> UnsafeRawBufferPointer? {
        guard let length = nextRecordLength else { return nil }
        if length > limit {
            // Only the handshake sets a lower limit; a record this long there is hostile.
            failHandshake(.malformedMessage("\(length)-byte handshake message"))
            return nil
        }
        guard cipherInEnd - cipherInStart >= 2 + length else { return nil }
        let start = cipherIn.baseAddress! + cipherInStart + 2
        cipherInStart += 2 + length
        return UnsafeRawBufferPointer(start: start, count: length)
    }

    /// The length field of the next record, once its two bytes are in.
    private var nextRecordLength: Int? {
        guard cipherInEnd - cipherInStart >= 2 else { return nil }
        let base = cipherIn.baseAddress! + cipherInStart
        return Int(base.load(as: UInt8.self)) << 8 | Int(base.load(fromByteOffset: 1, as: UInt8.self))
    }

    private func fillCipherIn() throws(CommError) -> CommReadResult {
        if cipherInStart > 0 {
            let pending = cipherInEnd - cipherInStart
            cipherIn.baseAddress!.copyMemory(from: cipherIn.baseAddress! + cipherInStart, byteCount: pending)
            cipherInStart = 0
            cipherInEnd = pending
        }
        let free = UnsafeMutableRawBufferPointer(rebasing: cipherIn[cipherInEnd...])
        let result = try inner.read(into: free)
        switch result {
        case .bytes(let count): cipherInEnd += count
        case .endOfStream: innerEnded = true
        case .wouldBlock: break
        }
        return result
    }

    private func open(_ record: UnsafeRawBufferPointer) throws(CommError) {
        do {
            plainIn = try receiveCipher.open(record, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
            plainInStart = plainIn.startIndex
        } catch {
            counters.authenticationFailures &+= 1
            warn("record-failed-authentication", "dropping link: a record failed authentication", metadata: ["id": "\(remoteID.map(String.init(describing:)) ?? "?")", "address": "\(remoteDescription)"])
            throw CommError(errno: POSIXErrorCode.EBADMSG.rawValue, message: "record from \(remoteDescription) failed authentication: \(error)")
        }
        counters.recordsIn &+= 1
    }

    /// Seals the pending plaintext into a record once the previous record has gone out, and
    /// hands it to the inner connection straight from the library's buffers; only what the
    /// inner connection cannot take now is staged in `cipherOut`.
    private func sealPlaintext() throws(CommError) {
        try drainCipherOut()
        guard cipherOutStart == cipherOut.count, plainOutCount > 0 else { return }
        let sealed: (ciphertext: Data, tag: Data)
        do {
            sealed = try sendCipher.seal(
                UnsafeRawBufferPointer(rebasing: plainOut[..<plainOutCount]), associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
        } catch {
            throw CommError(errno: POSIXErrorCode.EOVERFLOW.rawValue, message: "cannot seal a record for \(remoteDescription): \(error)")
        }
        plainOutCount = 0
        counters.recordsOut &+= 1
        let length = sealed.ciphertext.count + sealed.tag.count
        try writeOrStage([UInt8(length >> 8), UInt8(length & 0xFF)])
        try writeOrStage(sealed.ciphertext)
        try writeOrStage(sealed.tag)
    }

    private func writeOrStage(_ bytes: some ContiguousBytes) throws(CommError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(CommError) -> Void in
                var written = 0
                if cipherOutStart == cipherOut.count {
                    while written < raw.count {
                        let count = try inner.write(UnsafeRawBufferPointer(rebasing: raw[written...]))
                        if count == 0 { break }
                        written += count
                    }
                }
                if written < raw.count { cipherOut.append(contentsOf: raw[written...]) }
            }
        }
        try result.get()
    }

    private func appendRecord(_ message: [UInt8]) {
        cipherOut.append(UInt8(message.count >> 8))
        cipherOut.append(UInt8(message.count & 0xFF))
        cipherOut.append(contentsOf: message)
    }

    private func drainCipherOut() throws(CommError) {
        while cipherOutStart < cipherOut.count {
            let start = cipherOutStart
            let written = cipherOut.withUnsafeBytes { bytes in
                Result { () throws(CommError) -> Int in try inner.write(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
            }
            let count = try written.get()
            if count == 0 { break }
            cipherOutStart += count
        }
        if cipherOutStart == cipherOut.count {
            cipherOut.removeAll(keepingCapacity: true)
            cipherOutStart = 0
        }
    }

    private func drainOrFail() {
        do {
            try drainCipherOut()
        } catch {
            fail(error)
            return
        }
        inner.flush()
        updateInnerInterest()
    }

    // MARK: Interest

    private func updateInnerInterest() {
        var interest: CommInterest = []
        switch phase {
        case .handshaking:
            interest.insert(.readable)
        case .established:
            if outerInterest.contains(.readable) { interest.insert(.readable) }
            if outerInterest.contains(.writable) { interest.insert(.writable) }
        case .awaitingTransport, .closed:
            return
        }
        // Only a record the inner connection could not take waits for writability; written
        // plaintext leaves at `flush()`, which the packet layer calls after every burst.
        if cipherOutStart < cipherOut.count { interest.insert(.writable) }
        inner.reconfigure(interest)
    }

    /// Decrypted bytes, or whole records already read, raise no readiness on the socket:
    /// announce them once the current dispatch is over.
    private func announceBufferedInput() {
        guard outerInterest.contains(.readable), !readabilityPosted, hasBufferedInput else { return }
        readabilityPosted = true
        post { [weak self] in
            guard let self else { return }
            self.readabilityPosted = false
            guard self.phase == .established, self.outerInterest.contains(.readable), self.hasBufferedInput else { return }
            self.events?.connectionIsReady(self, readable: true, writable: false)
        }
    }

    private var hasBufferedInput: Bool {
        if plainInStart < plainIn.endIndex || innerEnded { return true }
        guard let length = nextRecordLength else { return false }
        return cipherInEnd - cipherInStart >= 2 + length
    }

    private func warn(_ kind: String, _ message: Logger.Message, metadata: Logger.Metadata) {
        if let warnings {
            warnings.warning(kind, message, metadata: metadata)
        } else {
            logger.warning(message, metadata: metadata)
        }
    }

    private func fail(_ error: CommError) {
        guard phase != .closed else { return }
        close()
        events?.connectionClosed(self, error: error)
    }
}

extension CommError {
    /// The link was refused by `authorize` (not a friend, or not the pinned id).
    public var isRefusal: Bool { errno == POSIXErrorCode.EACCES.rawValue }
    /// The link was aborted for taking too long (`abort`).
    public var isTimeout: Bool { errno == POSIXErrorCode.ETIMEDOUT.rawValue }
    /// `admitHandshake` turned the first handshake message away (too many handshakes).
    public var isNotAdmitted: Bool { errno == POSIXErrorCode.EBUSY.rawValue }
}
