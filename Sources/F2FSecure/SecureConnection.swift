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

    /// Each phase with what only it needs: the handshake until it completes, then the two
    /// transport ciphers. The record buffers outlive the phases and are reused by both.
    private enum State {
        /// Outgoing and still connecting: the handshake starts at `connectionEstablished`.
        case awaitingTransport(Handshaking)
        case handshaking(Handshaking)
        case established(Transport)
        case closed
    }

    private struct Handshaking {
        var handshake: NoiseHandshake
        /// A responder asks `admitHandshake` before answering the first message; an initiator's
        /// first message in is the answer to its own.
        var awaitsAdmission: Bool
    }

    private struct Transport {
        var sendCipher: NoiseCipherState
        var receiveCipher: NoiseCipherState
    }

    static let maximumRecordCount = NoiseRecordReader.maximumRecordCount
    static let maximumPlaintextCount = NoiseRecordWriter.maximumPlaintextCount
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
        guard case .established = state, let remoteID else { return nil }
        return AuthenticatedIdentity(publicKey: remoteID.bytes)
    }

    private var state: State
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

    /// Asked once by a responder, when the first handshake message has arrived whole and
    /// before any Diffie-Hellman work is done for it (the answer costs two): nil lets the
    /// handshake go on, a reason closes the connection. A listener bounds how much of that
    /// work strangers can ask for, and learns who has spoken in time.
    public var admitHandshake: (() -> String?)?

    /// An initiator joining by invitation: the payload of its last handshake message, made
    /// from the handshake hash before it (`Invitation.proof`). Nil: an empty payload.
    public var invitationProof: (([UInt8]) -> [UInt8])?

    /// A responder's check of a non-empty payload in the initiator's last message (an
    /// invitation proof), called before `authorize` with the payload and the handshake hash
    /// before that message: nil lets `authorize` decide, a reason fails the handshake as one
    /// that did not authenticate. Without it, such a payload is refused.
    public var redeemInvitation: ((PeerID, [UInt8], [UInt8]) -> String?)?

    /// Records as they arrive, limited to a handshake message's size until the handshake ends.
    private let reader = NoiseRecordReader(limit: NoiseHandshake.maximumMessageCount)
    /// The last record's plaintext, as the library returned it; read from `plainInStart`.
    private var plainIn = Data()
    private var plainInStart = 0
    /// Plaintext written since the last seal.
    private let plainOut: UnsafeMutableRawBufferPointer
    private var plainOutCount = 0
    /// Records the inner connection has not taken yet.
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
        self.post = post
        let handshake = NoiseHandshake(role: role, localStatic: identity.privateKey, prologue: Self.prologue, networkKey: networkKey)
        state = .awaitingTransport(Handshaking(handshake: handshake, awaitsAdmission: role == .responder))
        plainOut = .allocate(byteCount: Self.maximumPlaintextCount, alignment: 16)
        cipherOut.reserveCapacity(NoiseRecordReader.lengthCount + Self.maximumRecordCount)
        inner.events = self
        if isConnected { beginHandshake() }
    }

    deinit {
        inner.events = nil
        plainOut.deallocate()
    }

    public var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    private var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Ends the link from outside (handshake timeout, the pending pool making room); reported
    /// to `events` as closed with `error`.
    public func abort(_ error: ConnectionError) {
        fail(error)
    }

    // MARK: Connection

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        switch state {
        case .closed: throw .alreadyClosed(operation: "read")
        case .awaitingTransport, .handshaking: return .wouldBlock
        case .established: break
        }
        while plainInStart == plainIn.endIndex {
            if try openNextRecord() { continue }
            if innerEnded { return .endOfStream }
            switch try fillReader() {
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

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int {
        switch state {
        case .closed: throw .alreadyClosed(operation: "write")
        case .awaitingTransport, .handshaking: return 0
        case .established: break
        }
        if cipherOutStart < cipherOut.count {
            // The inner connection refused part of the last record: take nothing more until it
            // is out, or it would queue here in front of every later frame.
            try drainCipherOut()
            if cipherOutStart < cipherOut.count { return 0 }
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
        guard isEstablished, sealAndFlush() else { return }
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
        guard !isClosed else { return }
        outerInterest = interest
        updateInnerInterest()
        announceBufferedInput()
    }

    public func close() {
        guard !isClosed else { return }
        state = .closed
        inner.events = nil
        inner.close()
    }

    // MARK: ConnectionEvents (from the inner connection)

    public func connectionEstablished(_ connection: any Connection) {
        if case .awaitingTransport = state { beginHandshake() }
    }

    public func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {
        switch state {
        case .handshaking:
            if writable { drainOrFail() }
            if readable { advanceHandshake() }
        case .established:
            if writable, !sealAndFlush() { return }
            let outerReadable = readable && outerInterest.contains(.readable)
            let outerWritable = writable && outerInterest.contains(.writable) && plainOutCount < plainOut.count
                && cipherOutStart == cipherOut.count
            if outerReadable || outerWritable {
                events?.connectionIsReady(self, readable: outerReadable, writable: outerWritable)
            }
            guard isEstablished else { return }
            updateInnerInterest()
            announceBufferedInput()
        case .awaitingTransport, .closed:
            break
        }
    }

    public func connectionClosed(_ connection: any Connection, error: ConnectionError?) {
        guard !isClosed else { return }
        state = .closed
        inner.events = nil
        events?.connectionClosed(self, error: error)
    }

    // MARK: Handshake

    private func beginHandshake() {
        guard case .awaitingTransport(let handshaking) = state else { return }
        state = .handshaking(handshaking)
        if handshaking.handshake.isOurTurn { sendHandshakeMessage() }
        updateInnerInterest()
    }

    private func sendHandshakeMessage() {
        guard case .handshaking(var handshaking) = state else { return }
        let message: [UInt8]
        // The initiator's last message is the one after it learned the responder's key.
        let payload = handshaking.handshake.remoteStatic != nil ? invitationProof?(handshaking.handshake.handshakeHash) ?? [] : []
        do {
            message = try handshaking.handshake.writeMessage(payload: payload)
        } catch {
            failHandshake(error)
            return
        }
        state = .handshaking(handshaking)
        NoiseRecordWriter.frame(message, into: &cipherOut)
        do {
            try drainCipherOut()
        } catch {
            fail(error)
            return
        }
        inner.flush()
        if handshaking.handshake.isComplete { finishHandshake(handshaking.handshake) }
    }

    private func advanceHandshake() {
        while case .handshaking(var handshaking) = state {
            let next: UnsafeRawBufferPointer?
            do {
                next = try reader.nextRecord()
            } catch {
                // Only a handshake message can be over the limit: a record this long there is hostile.
                failHandshake(.malformedMessage("\(error.oversizeLength ?? 0)-byte handshake message"))
                return
            }
            guard let record = next else {
                do {
                    switch try fillReader() {
                    case .bytes: continue
                    case .wouldBlock: return
                    case .endOfStream:
                        fail(.closedByPeer("closed by \(remoteDescription) during the Noise handshake"))
                        return
                    }
                } catch {
                    fail(error)
                    return
                }
            }
            if handshaking.awaitsAdmission {
                handshaking.awaitsAdmission = false
                if let refusal = admitHandshake?() {
                    fail(.notAdmitted("handshake from \(remoteDescription) not admitted: \(refusal)"))
                    return
                }
            }
            let hashBefore = handshaking.handshake.handshakeHash
            let payload: [UInt8]
            do {
                payload = try handshaking.handshake.readMessage(Array(record))
            } catch {
                failHandshake(error)
                return
            }
            state = .handshaking(handshaking)
            if let id = handshaking.handshake.remoteStatic, remoteID == nil {
                remoteID = id
                if !payload.isEmpty, handshaking.handshake.role == .responder {
                    let refusal: String? = redeemInvitation.map { $0(id, payload, hashBefore) } ?? "an invitation proof nobody asked for"
                    if let refusal {
                        warn("invitation-refused", "refused invitation", metadata: ["id": "\(id)", "address": "\(remoteDescription)", "reason": "\(refusal)"])
                        fail(.authenticationFailed("invitation from \(id) refused: \(refusal)"))
                        return
                    }
                }
                if let refusal = authorize(id) {
                    warn("refused-peer", "refused peer", metadata: ["id": "\(id)", "address": "\(remoteDescription)", "reason": "\(refusal)"])
                    fail(.refused("refused \(id): \(refusal)"))
                    return
                }
            }
            if handshaking.handshake.isComplete {
                finishHandshake(handshaking.handshake)
            } else if handshaking.handshake.isOurTurn {
                sendHandshakeMessage()
            }
        }
    }

    private func finishHandshake(_ handshake: NoiseHandshake) {
        var (sendCipher, receiveCipher) = handshake.transportCiphers()
        sendCipher.rekeyInterval = rekeyInterval
        receiveCipher.rekeyInterval = rekeyInterval
        state = .established(Transport(sendCipher: sendCipher, receiveCipher: receiveCipher))
        reader.limit = NoiseRecordReader.maximumRecordCount
        logger.debug("link authenticated", metadata: ["id": "\(remoteID.map(String.init(describing:)) ?? "?")", "address": "\(remoteDescription)"])
        updateInnerInterest()
        events?.connectionEstablished(self)
        guard isEstablished else { return }
        announceBufferedInput()
    }

    private func failHandshake(_ error: NoiseError) {
        warn("handshake-failed", "Noise handshake failed", metadata: ["address": "\(remoteDescription)", "error": "\(error)"])
        let reason = "Noise handshake with \(remoteDescription) failed: \(error)"
        // A failed tag this early means another network key (XXpsk0) or tampering.
        fail(error == .decryptionFailed ? .authenticationFailed(reason) : .protocolViolation(reason))
    }

    // MARK: Records

    private func fillReader() throws(ConnectionError) -> CommReadResult {
        let result = try inner.read(into: reader.freeSpace)
        switch result {
        case .bytes(let count): reader.didFill(count)
        case .endOfStream: innerEnded = true
        case .wouldBlock: break
        }
        return result
    }

    /// Opens the next complete record into `plainIn`; false if none has all arrived.
    private func openNextRecord() throws(ConnectionError) -> Bool {
        guard case .established(var transport) = state else { return false }
        let plaintext: Data?
        do {
            plaintext = try reader.nextPlaintext(opening: &transport.receiveCipher)
        } catch {
            counters.authenticationFailures &+= 1
            warn("record-failed-authentication", "dropping link: a record failed authentication", metadata: ["id": "\(remoteID.map(String.init(describing:)) ?? "?")", "address": "\(remoteDescription)"])
            switch error {
            case .unopened(let noiseError):
                throw .authenticationFailed("record from \(remoteDescription) failed authentication: \(noiseError)")
            case .oversize(let length, let limit):
                throw .protocolViolation("\(length)-byte record from \(remoteDescription) (at most \(limit))")
            }
        }
        guard let plaintext else { return false }
        state = .established(transport)
        plainIn = plaintext
        plainInStart = plainIn.startIndex
        counters.recordsIn &+= 1
        return true
    }

    /// Seals the pending plaintext into a record once the previous record has gone out, and
    /// hands it to the inner connection straight from the library's buffers; only what the
    /// inner connection cannot take now is staged in `cipherOut`.
    private func sealPlaintext() throws(ConnectionError) {
        try drainCipherOut()
        guard cipherOutStart == cipherOut.count, plainOutCount > 0, case .established(var transport) = state else { return }
        let sealed: NoiseRecordWriter.SealedRecord
        do {
            sealed = try NoiseRecordWriter.seal(UnsafeRawBufferPointer(rebasing: plainOut[..<plainOutCount]), with: &transport.sendCipher)
        } catch {
            // Only nonce exhaustion gets here, which rekeying every `rekeyInterval` records prevents.
            throw .protocolViolation("cannot seal a record for \(remoteDescription): \(error)")
        }
        state = .established(transport)
        plainOutCount = 0
        counters.recordsOut &+= 1
        var length = sealed.length
        try withUnsafeBytes(of: &length) { (raw) throws(ConnectionError) in try writeOrStage(raw) }
        try writeOrStage(sealed.ciphertext)
        try writeOrStage(sealed.tag)
    }

    private func writeOrStage(_ bytes: some ContiguousBytes) throws(ConnectionError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ConnectionError) -> Void in try writeOrStage(raw) }
        }
        try result.get()
    }

    private func writeOrStage(_ raw: UnsafeRawBufferPointer) throws(ConnectionError) {
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

    private func drainCipherOut() throws(ConnectionError) {
        while cipherOutStart < cipherOut.count {
            let start = cipherOutStart
            let written = cipherOut.withUnsafeBytes { bytes in
                Result { () throws(ConnectionError) -> Int in try inner.write(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
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
        switch state {
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
            guard self.isEstablished, self.outerInterest.contains(.readable), self.hasBufferedInput else { return }
            self.events?.connectionIsReady(self, readable: true, writable: false)
        }
    }

    private var hasBufferedInput: Bool {
        plainInStart < plainIn.endIndex || innerEnded || reader.hasCompleteRecord
    }

    private func warn(_ kind: String, _ message: Logger.Message, metadata: Logger.Metadata) {
        if let warnings {
            warnings.warning(kind, message, metadata: metadata)
        } else {
            logger.warning(message, metadata: metadata)
        }
    }

    private func fail(_ error: ConnectionError) {
        guard !isClosed else { return }
        close()
        events?.connectionClosed(self, error: error)
    }
}
