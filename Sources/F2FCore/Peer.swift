import F2FBase
import Logging

/// One friend link: its connection, handshake state, the assembler for inbound packets and
/// the single outbound slot. Lives on the loop thread; driven by connection notifications.
public final class Peer: ConnectionEvents {
    public enum State: Equatable, Sendable {
        /// An outbound connection that has not completed yet.
        case connecting
        /// Hellos are being exchanged.
        case handshaking
        /// Carrying traffic.
        case established
        case closed
    }

    /// Each state with what only it has, so that no combination the protocol forbids (a held
    /// packet before the handshake, a remote hello while connecting) can be represented.
    private enum Phase {
        case connecting
        case handshaking(Handshaking)
        case established(Established)
        /// The hello is kept for the log lines and console output that follow the close.
        case closed(remote: Hello?, establishedAt: Instant?)
    }

    private struct Handshaking {
        var helloSent = false
        /// The reason sent in a `reject` before closing; nothing more is read meanwhile.
        var refusal: String?
    }

    private struct Established {
        let remote: Hello
        let since: Instant
        /// A packet a listener deferred, still in the assembler: reading waits for it.
        var heldPacket: F2FPacketType?
        var liveness: LinkLiveness
        /// Our keepalive, due to go out with the next free slot.
        var keepaliveDue: KeepalivePayload?
        /// The friend's ping, to be echoed before anything else.
        var echoDue: UInt32?
        var refusal: String?

        /// Nothing of the link's own to send: the slot is the producers'.
        var isIdle: Bool { echoDue == nil && keepaliveDue == nil && refusal == nil }
    }

    public let id: Int
    public let connection: any Connection
    public let isOutbound: Bool
    public var counters = PeerCounters()
    public private(set) var lastReceived: Instant
    /// The last packet that came on the stream (any but a frame), for `LinkLiveness`.
    public private(set) var lastStreamReceived: Instant
    public private(set) var lastSent: Instant
    public private(set) var stateSince: Instant
    private var phase: Phase
    /// Set by components (e.g. the switch port number of this peer).
    public var attachment: Int?

    unowned let node: F2FNode
    let assembler = PacketAssembler()
    public let slot = OutboundSlot()
    private var isPumping = false
    /// Bytes written by a pump that did not flush (frames staged during a batch).
    private var hasUnflushedBytes = false

    init(id: Int, connection: any Connection, isOutbound: Bool, node: F2FNode) {
        self.id = id
        self.connection = connection
        self.isOutbound = isOutbound
        self.node = node
        let now = node.now()
        lastReceived = now
        lastStreamReceived = now
        lastSent = now
        stateSince = now
        phase = isOutbound ? .connecting : .handshaking(Handshaking())
        connection.events = self
        guardHandshakeReads()
    }

    public var state: State {
        switch phase {
        case .connecting: .connecting
        case .handshaking: .handshaking
        case .established: .established
        case .closed: .closed
        }
    }

    /// The hello the other side sent, once the handshake is done.
    public var remote: Hello? {
        switch phase {
        case .established(let established): established.remote
        case .closed(let remote, _): remote
        case .connecting, .handshaking: nil
        }
    }

    public var establishedAt: Instant? {
        switch phase {
        case .established(let established): established.since
        case .closed(_, let establishedAt): establishedAt
        case .connecting, .handshaking: nil
        }
    }

    private var refusal: String? {
        switch phase {
        case .handshaking(let handshaking): handshaking.refusal
        case .established(let established): established.refusal
        case .connecting, .closed: nil
        }
    }

    /// Neither refusing nor holding a deferred packet (in the states that read at all).
    private var readsMore: Bool {
        switch phase {
        case .handshaking(let handshaking): handshaking.refusal == nil
        case .established(let established): established.refusal == nil && established.heldPacket == nil
        case .connecting, .closed: false
        }
    }

    /// The name the peer chose, escaped: it reaches log lines and the console.
    public var displayName: String {
        remote.map { "\(LogText.escaped($0.name))@\(connection.remoteDescription)" } ?? connection.remoteDescription
    }

    func start() {
        if state == .handshaking { beginHandshake() }
    }

    /// Until the handshake is done only a hello of plausible size is read at all.
    /// Asked only while handshaking (`guardHandshakeReads`).
    private func admitDuringHandshake(_ type: F2FPacketType, _ count: Int) -> Bool {
        type == .hello && count <= Hello.maximumEncodedCount
    }

    // MARK: ConnectionEvents

    public func connectionEstablished(_ connection: any Connection) {
        guard state == .connecting else { return }
        transition(to: .handshaking(Handshaking()))
        beginHandshake()
    }

    public func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {
        if writable { pumpOutbound() }
        if readable { pumpInbound() }
    }

    public func connectionClosed(_ connection: any Connection, error: ConnectionError?) {
        close(reason: error.map { "connection failed: \($0)" } ?? "closed by the other side")
    }

    // MARK: Inbound

    /// Reads and dispatches packets until the connection runs dry or a listener defers one.
    public func pumpInbound() {
        var budget = 512  // packets per wake-up, so one busy peer cannot starve the rest
        while readsMore, budget > 0 {
            budget -= 1
            let progress: PacketAssembler.Progress
            do {
                progress = try assembler.read(from: connection)
            } catch {
                close(reason: "read failed: \(error)")
                return
            }
            switch progress {
            case .needMore:
                return
            case .rejectedHeader(let type, let count):
                refuse(type == .hello
                    ? HelloError.malformed("hello of \(count) bytes").description
                    : HelloError.unexpectedPacket(type).description)
                return
            case .endOfStream(let midPacket):
                close(reason: midPacket ? "connection closed in the middle of a packet" : "closed by the other side")
                return
            case .packet(let type):
                lastReceived = node.now()
                // Frames may have come as datagrams; every other packet came on the stream.
                if type != .ethernetFrame { lastStreamReceived = lastReceived }
                counters.packetsIn &+= 1
                counters.bytesIn &+= UInt64(F2FPacketHeader.encodedCount + assembler.payload.count)
                dispatch(type)
            }
        }
    }

    private func dispatch(_ type: F2FPacketType) {
        switch state {
        case .handshaking:
            receiveHello(type)
            assembler.release()
        case .established:
            switch type {
            case .keepalive:
                let payload = KeepalivePayload(parsing: assembler.payload)
                assembler.release()
                receiveKeepalive(payload)
            case .reject:
                // The other side's words: they reach log lines and the console.
                let reason = LogText.escaped(String(decoding: assembler.payload, as: UTF8.self))
                assembler.release()
                close(reason: "refused by the other side: \(reason)")
            default:
                switch node.offer(type, from: self) {
                case .claimed:
                    assembler.release()
                case .ignored:
                    counters.unclaimedDropped &+= 1
                    assembler.release()
                case .deferred:
                    hold(type)
                    updateInterest()
                }
            }
        case .connecting, .closed:
            assembler.release()
        }
    }

    /// A listener that deferred a packet is ready for it now: offer it again, then read on.
    public func resumeReading() {
        guard case .established(var established) = phase, let type = established.heldPacket else { return }
        established.heldPacket = nil
        phase = .established(established)
        switch node.offer(type, from: self) {
        case .claimed: assembler.release()
        case .ignored:
            counters.unclaimedDropped &+= 1
            assembler.release()
        case .deferred:
            hold(type)
            return
        }
        updateInterest()
        pumpInbound()
    }

    private func hold(_ type: F2FPacketType) {
        guard case .established(var established) = phase else { return }
        established.heldPacket = type
        phase = .established(established)
    }

    private func receiveHello(_ type: F2FPacketType) {
        guard type == .hello else {
            refuse(HelloError.unexpectedPacket(type).description)
            return
        }
        let hello: Hello
        do {
            hello = try assembler.withPayloadSpan { (span) throws(HelloError) in try Hello(parsing: span) }
        } catch {
            refuse(error.description)
            return
        }
        if let refusal = node.admit(hello, on: self) {
            refuse(refusal.description, level: refusal.isMisbehaviour ? .warning : .debug)
            return
        }
        let now = node.now()
        transition(to: .established(Established(remote: hello, since: now, liveness: LinkLiveness(configuration: node.livenessConfiguration, now: now))))
        node.logger.info("peer connected", metadata: ["peer": "\(displayName)", "node-id": "\(String(hello.nodeID, radix: 16))"])
        node.notify(.connected, peer: self)
        pumpOutbound()
    }

    // MARK: Outbound

    private func beginHandshake() {
        updateInterest()
        pumpOutbound()
    }

    /// Fills and writes the outbound slot for as long as the connection takes bytes and some
    /// producer has a packet.
    public func pumpOutbound(flush: Bool = true) {
        guard !isPumping else { return }
        isPumping = true
        defer { isPumping = false }
        var wroteSomething = false
        while state == .handshaking || state == .established {
            if slot.isFree, !loadNextPacket() { break }
            let finished: Bool
            do {
                finished = try slot.write(to: connection)
            } catch {
                close(reason: "write failed: \(error)")
                return
            }
            guard finished else { break }
            wroteSomething = true
            counters.packetsOut &+= 1
            counters.bytesOut &+= UInt64(slot.totalCount)
            lastSent = node.now()
            if slot.type == .reject {
                connection.flush()
                close(reason: "refused: \(refusal ?? "")")
                return
            }
            if state == .established { node.notifyWritable(self) }
        }
        if wroteSomething || hasUnflushedBytes, state != .closed {
            if flush {
                connection.flush()
                hasUnflushedBytes = false
            } else {
                hasUnflushedBytes = true
            }
        }
        updateInterest()
    }

    private func loadNextPacket() -> Bool {
        // A frame's turn, nearly every call: established with nothing of its own due. Read in
        // place, without copying the state out and back.
        if case .established(let established) = phase, established.isIdle {
            return node.produce(for: self, into: slot)
        }
        if let reason = refusal {
            slot.load(.reject) { buffer in
                let bytes = Array(reason.utf8.prefix(200))
                buffer.copyBytes(from: bytes)
                return bytes.count
            }
            return true
        }
        if case .handshaking(var handshaking) = phase, !handshaking.helloSent {
            handshaking.helloSent = true
            phase = .handshaking(handshaking)
            var bytes: [UInt8] = []
            node.localHello.encode(into: &bytes)
            bytes.withUnsafeBytes { slot.load(.hello, payload: $0) }
            return true
        }
        guard case .established(var established) = phase else { return false }
        if let sequence = established.echoDue {
            established.echoDue = nil
            phase = .established(established)
            slot.load(.keepalive) { KeepalivePayload.echo(sequence).encode(into: $0) }
            return true
        }
        if let keepalive = established.keepaliveDue {
            established.keepaliveDue = nil
            phase = .established(established)
            slot.load(.keepalive) { keepalive.encode(into: $0) }
            return true
        }
        return node.produce(for: self, into: slot)
    }

    /// Sends a refusal the other side can log, then closes.
    func refuse(_ reason: String, level: Logger.Level = .warning) {
        if level == .warning {
            node.warnings.warning("peer-refused", "refusing peer", metadata: ["peer": "\(displayName)", "reason": "\(reason)"])
        } else {
            node.logger.log(level: level, "refusing peer", metadata: ["peer": "\(displayName)", "reason": "\(reason)"])
        }
        switch phase {
        case .handshaking(var handshaking):
            handshaking.refusal = reason
            phase = .handshaking(handshaking)
        case .established(var established):
            established.refusal = reason
            phase = .established(established)
        case .connecting, .closed:
            return  // nothing to send the refusal on
        }
        updateInterest()
        // A packet half-written in the slot goes out first; the refusal follows it.
        pumpOutbound()
    }

    private func updateInterest() {
        guard state != .closed, state != .connecting else { return }
        var interest: CommInterest = []
        if readsMore { interest.insert(.readable) }
        if slot.isLoaded { interest.insert(.writable) }
        connection.reconfigure(interest)
    }

    // MARK: Lifecycle

    public func close(reason: String) {
        guard state != .closed else { return }
        let wasEstablished = state == .established
        transition(to: .closed(remote: remote, establishedAt: establishedAt))
        connection.events = nil
        connection.close()
        node.peerClosed(self, reason: reason, wasEstablished: wasEstablished)
    }

    // MARK: Liveness

    /// Keepalives and the dead-link decision (`LinkLiveness`); the reason to close, if dead.
    func tickLiveness(now: Instant) -> String? {
        guard case .established(var established) = phase else { return nil }
        established.liveness.heard(at: lastReceived, onStream: false)
        established.liveness.heard(at: lastStreamReceived, onStream: true)
        if let report = connection.datagramLiveness { established.liveness.update(report) }
        // A packet we hold unread is not the friend's silence.
        if established.heldPacket != nil { established.liveness.heard(at: now, onStream: true) }
        let action = established.liveness.tick(now: now)
        switch action {
        case nil:
            phase = .established(established)
            return nil
        case .declareDead(let silence):
            phase = .established(established)
            return "link dead: nothing received for \(silence)"
        case .sendKeepalive(let ping):
            established.keepaliveDue = ping.map(KeepalivePayload.ping) ?? .plain
            phase = .established(established)
            pumpOutbound()
            return nil
        }
    }

    private func receiveKeepalive(_ payload: KeepalivePayload) {
        guard case .established(var established) = phase else { return }
        switch payload {
        case .plain:
            return
        case .ping(let sequence):
            established.echoDue = sequence
            phase = .established(established)
            pumpOutbound()
        case .echo(let sequence):
            established.liveness.pingAnswered(sequence: sequence, now: node.now())
            phase = .established(established)
        }
    }

    /// The stream's RTT and the silence that would end the link, for `peer/print`.
    public var liveness: LinkLiveness? {
        if case .established(let established) = phase { established.liveness } else { nil }
    }

    private func transition(to newPhase: Phase) {
        phase = newPhase
        stateSince = node.now()
        guardHandshakeReads()
    }

    /// Only a hello may be read while handshaking: the assembler asks before reading a
    /// payload. In every other state it admits everything, so it is not asked at all (a call
    /// per packet through an unowned reference, which is checked and counted each time).
    private func guardHandshakeReads() {
        if case .handshaking = phase {
            assembler.admits = { [unowned self] type, count in admitDuringHandshake(type, count) }
        } else {
            assembler.admits = nil
        }
    }
}
