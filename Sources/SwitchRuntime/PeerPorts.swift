import EthernetSwitch
import F2FCore
import F2FPosix

/// The thesis's VDE plugin (docs/thesis.md): each peer past the handshake becomes a switch port.
/// Its frames travel as `ethernetFrame` packets; it is detached (and its stations
/// forgotten) when the link goes.
public final class PeerPorts: CoreListener, OutboundProducer {
    private let engine: SwitchEngine
    private var links: [Int: PeerLink] = [:]

    private let control = ControlFrames()
    /// The spanning tree guards of a peer's port (root guard for friends who may not be root).
    public var guardsForPeer: (Peer) -> STPPortGuards = { _ in STPPortGuards() }
    /// The tagged VLANs a peer's link carries (`peer/setvlans`, `--peer-vlans`), asked each
    /// time the peer links: the list belongs to the friend, not to the port.
    public var vlansForPeer: (Peer) -> VLANList = { _ in .all }
    /// The most ports peer links may hold together: the rest stay for local clients and
    /// `--plug` ports, however many friends link.
    public var maximumPorts = Int.max
    /// Links closed because the peers held `maximumPorts` ports, or no port was free.
    public private(set) var refusedForLackOfPorts: UInt64 = 0

    public init(engine: SwitchEngine, node: F2FNode) {
        self.engine = engine
        node.addListener(self)
        node.addProducer(control, priority: .spanningTree)
        node.addProducer(self, priority: .bulk)
    }

    public var linkCount: Int { links.count }

    public func link(for peer: Peer) -> PeerLink? {
        links[peer.id]
    }

    public func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        switch event {
        case .connected:
            attach(peer)
            return .ignored
        case .disconnected(let reason):
            if let link = links.removeValue(forKey: peer.id) {
                engine.detach(port: link.port, reason: "peer \(peer.displayName): \(reason)")
            }
            return .ignored
        case .packet(.ethernetFrame), .packet(.bpdu):
            guard let link = links[peer.id] else { return .ignored }
            // Held while a port this peer feeds is backed up: the peer stops reading, and TCP
            // slows the other switch down, which in turn pauses its sending client.
            if link.isPaused { return .deferred }
            engine.receive(payload, from: link.port)
            return .claimed
        case .packet(.meshFrame):
            guard let link = links[peer.id] else { return .ignored }
            if link.isPaused { return .deferred }
            engine.receiveRouted(payload, from: link.port)
            return .claimed
        case .packet, .writable:
            return .ignored
        }
    }

    private func attach(_ peer: Peer) {
        guard links.count < maximumPorts else {
            refusedForLackOfPorts &+= 1
            peer.close(reason: "peer links hold all the \(maximumPorts) ports they may take")
            return
        }
        guard case .success(let port) = engine.allocatePort(requested: nil) else {
            refusedForLackOfPorts &+= 1
            peer.close(reason: "no free switch port for this peer")
            return
        }
        let link = PeerLink(peer: peer, port: port, engine: engine, control: control)
        links[peer.id] = link
        peer.attachment = port
        engine.attach(link, port: port, kind: .pointToPoint, guards: guardsForPeer(peer))
        let vlans = vlansForPeer(peer)
        if !vlans.isAll { engine.setLinkVLANs(vlans, port: port) }
    }

    /// A new list for the peer's live link; false if the peer has no link (yet).
    @discardableResult
    public func setVLANs(_ list: VLANList, for peer: Peer) -> Bool {
        guard let link = links[peer.id] else { return false }
        engine.setLinkVLANs(list, port: link.port)
        return true
    }

    public func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        guard let link = links[peer.id] else { return false }
        return link.loadNextFrame(into: slot)
    }
}

/// The switch-port side of one peer: the frames of an engine batch wait in the port's fair
/// queue (`FairFrameQueue`: per flow, CoDel each) and leave when the batch is flushed, sparse
/// flows first; frames the peer's connection cannot take yet stay there, not for long, and
/// beyond that are dropped and counted.
public final class PeerLink: PortLink {
    public let port: Int
    public let kind = "f2f peer"
    public let userName = "NONE"
    private unowned let peer: Peer
    private unowned let engine: SwitchEngine
    private let control: ControlFrames
    private let queue: FairFrameQueue
    /// Perturbs the flow hash, so that no one can aim frames at another flow's queue.
    private let flowSeed = UInt32.random(in: .min ... .max)
    private var isOpen = true

    init(peer: Peer, port: Int, engine: SwitchEngine, control: ControlFrames) {
        self.peer = peer
        self.port = port
        self.engine = engine
        self.control = control
        queue = FairFrameQueue(capacity: engine.burstQueueCapacity, slotSize: engine.maxFrameSize + MeshFrameHeader.encodedCount)
    }

    /// BPDUs take the spanning-tree producer: they leave before any queued bulk frame.
    public func sendControl(_ frame: UnsafeRawBufferPointer) {
        guard isOpen, peer.state == .established else { return }
        control.add(Array(frame), for: peer.id)
        peer.pumpOutbound()
    }

    /// True while a port this peer's frames went to is backed up.
    public private(set) var isPaused = false

    public func pauseReceiving() -> Bool {
        guard isOpen, !isPaused else { return false }
        isPaused = true
        return true
    }

    public func resumeReceiving() {
        guard isPaused else { return }
        isPaused = false
        // Not from inside whatever drained the port (possibly another peer's outbound pump):
        // the held frame is forwarded once the current dispatch is done.
        engine.loop.afterCurrentDispatch { [weak self] in
            guard let self, isOpen, !isPaused else { return }
            peer.resumeReading()
        }
    }

    public var linkDescription: String { peer.displayName }
    public var endpointID: Int { peer.id }
    public var queuedFrames: Int { queue.count }

    public func stage(_ frame: UnsafeRawBufferPointer) {
        stage(frame, as: .ethernetFrame)
    }

    /// A routed frame: the same queue, so a flow's plain and routed frames keep their order.
    public func stageRouted(_ packet: UnsafeRawBufferPointer) {
        stage(packet, as: .meshFrame)
    }

    private func stage(_ frame: UnsafeRawBufferPointer, as type: F2FPacketType) {
        guard isOpen else { return }
        // Queued even when the peer could take the frame now: the batch leaves at `flush`, in
        // the fair queue's order, so a ping read together with a burst of bulk frames goes
        // first. That costs one copy per frame; the send happens at the flush either way.
        let flowBytes = type == .meshFrame ? UnsafeRawBufferPointer(rebasing: frame[MeshFrameHeader.encodedCount...]) : frame
        if !queue.push(frame, flowHash: FlowHash.hash(flowBytes, seed: flowSeed), now: engine.loop.now, type: type) {
            engine.recordDrop(port: port, reason: .queueFull)
            peer.counters.framesDropped &+= 1
        }
    }

    /// Sends what the batch queued, at the end of the wake-up rather than now: a link reads up
    /// to four batches from a busy socket per wake-up, and the fair queue can only put a ping
    /// first among frames it holds together. Reading a frame costs a fraction of sealing and
    /// sending it, so the ping then waits for the frames read before it, not for their sends.
    public func flush() {
        guard isOpen, !isPumpScheduled else { return }
        isPumpScheduled = true
        engine.loop.afterCurrentDispatch(pumpAfterDispatch)
    }

    private var isPumpScheduled = false
    /// Made once: handing the loop the same closure each wake-up allocates nothing.
    private lazy var pumpAfterDispatch: () -> Void = { [weak self] in
        guard let self else { return }
        isPumpScheduled = false
        guard isOpen else { return }
        peer.pumpOutbound()
    }

    func loadNextFrame(into slot: OutboundSlot) -> Bool {
        guard !queue.isEmpty else { return false }
        // Taken once per frame: every use of an unowned reference checks and counts it.
        let engine = engine
        let next = queue.next(now: engine.loop.now) {
            engine.recordDrop(port: port, reason: .queueDelay)
            peer.counters.framesDropped &+= 1
        }
        guard let frame = next else {
            engine.egressDrained(port: port)
            return false
        }
        let type = queue.headType
        slot.load(type, payload: frame)
        engine.recordSent(port: port, byteCount: type == .meshFrame ? frame.count - MeshFrameHeader.encodedCount : frame.count)
        queue.removeFirst()
        if queue.isEmpty { engine.egressDrained(port: port) }
        return true
    }

    /// Never: the link's queue is kept short by CoDel instead of by pausing its senders, which
    /// would only move the backlog into their sockets and taps, first in first out, out of
    /// CoDel's sight and past any fairness.
    public var isBackedUp: Bool { false }

    public func close() {
        guard isOpen else { return }
        isOpen = false
        queue.removeAll()
        control.removeAll(for: peer.id)
        if peer.state != .closed { peer.close(reason: "switch port removed") }
    }
}

/// Control frames (BPDUs) waiting for their peer's slot; a few per peer at most, the
/// spanning tree repeats its state every hello time anyway.
final class ControlFrames: OutboundProducer {
    private var waiting = PeerQueues<[UInt8]>(limitPerPeer: 4)

    func add(_ frame: [UInt8], for peerID: Int) {
        waiting.append(frame, for: peerID)
    }

    func removeAll(for peerID: Int) {
        waiting.removeAll(for: peerID)
    }

    func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        guard let frame = waiting.next(for: peer.id) else { return false }
        frame.withUnsafeBytes { slot.load(.bpdu, payload: $0) }
        return true
    }
}
