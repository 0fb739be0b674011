import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import Logging

/// Runs the pure switch over real ports: takes the frames links read (in batches where they
/// can), asks the core where each goes, stages it on the egress links and flushes every
/// touched link once per batch, so a burst costs one `recvmmsg` and one `sendmmsg` per port
/// instead of a call per frame. Frames only flow one way: link → `receiveBatch` or
/// `receive` → switch → each egress link's `stage` and `flush`.
///
/// When an egress link backs up, the client that fed it is paused until the link drains:
/// its frames wait in its own socket and slow it down, rather than being read, switched and
/// then dropped (work the whole machine pays for). A link its senders have waited on for
/// `stallTimeout` (checked every `tick`) counts as stalled — a stopped guest must not freeze
/// its senders — and from then on frames for it are dropped, until it drains again.
public final class SwitchEngine {
    // The engine runs on its loop's thread and `core` is a value with no callbacks, so no two
    // accesses to these fields can overlap; the dynamic exclusivity check would cost about 80
    // instructions on each of a frame's several accesses (callgrind), so they go without it.
    @exclusivity(unchecked) public private(set) var core: Switch
    public let loop: any EventLoop
    let logger: Logger
    /// One record per port, indexed by port number.
    private let ports: [EnginePort]
    @exclusivity(unchecked) private var touchedPorts: [Int] = []
    private let receiveBatch: ReceiveBatch
    private var bpduFrame: [UInt8] = []
    /// Frames copied into the ingress buffers by `receive(_:from:)` and not yet flushed, and
    /// the ports they came from.
    @exclusivity(unchecked) private var copiedCount = 0
    private var copiedFrom: [Int] = []
    /// Where tagged and untagged copies of a batch's frames are built.
    private let vlanScratch: VLANScratch
    private var isCopiedBatchScheduled = false
    private var scheduledHoldEnd: Instant?
    /// Burst-queue slots per port.
    public let burstQueueCapacity: Int
    /// How long senders wait for a backed-up link before it counts as stalled.
    public var stallTimeout: Duration = .milliseconds(100)
    /// When the next report of MAC- and storm-rule drops may go out: a spoofing friend or a
    /// storm costs one warning per port per `dropReportInterval`, never a line per frame.
    private var nextDropReport = Instant.zero
    public var dropReportInterval: Duration = .seconds(10)
    /// Mesh routing (docs/mesh-routing.md): nil until a `MeshRouter` sets it; then a unicast
    /// frame from a local port whose destination another node owns is routed to that node.
    public private(set) var meshTable: MeshForwardingTable?
    public private(set) var meshCounters = MeshCounters()
    private let meshScratch: MeshScratch

    public init(configuration: SwitchConfiguration, spanningTree: SpanningTree? = nil, loop: any EventLoop, logger: Logger, burstQueueCapacity: Int = 256) {
        core = Switch(configuration: configuration, spanningTree: spanningTree)
        self.loop = loop
        self.logger = logger
        self.burstQueueCapacity = burstQueueCapacity
        ports = (0..<configuration.portCount).map { _ in EnginePort() }
        // Room for a routed frame's mesh header too, so a routed full-size frame is not cut.
        // Each buffer has a tag's room in front: a unicast that must leave tagged takes its
        // tag in place (InPlaceVLANTag), moving its addresses, not the whole frame.
        receiveBatch = ReceiveBatch(
            capacity: 64, bufferSize: configuration.maxFrameSize + 1 + MeshFrameHeader.encodedCount, headroom: InPlaceVLANTag.tagSize)
        meshScratch = MeshScratch(slots: receiveBatch.capacity, slotSize: configuration.maxFrameSize + MeshFrameHeader.encodedCount)
        vlanScratch = VLANScratch(slots: receiveBatch.capacity, slotSize: configuration.maxFrameSize + 1 + VLANScratch.tagSize)
        touchedPorts.reserveCapacity(configuration.portCount)
    }

    public var maxFrameSize: Int { core.configuration.maxFrameSize }

    // MARK: Ports

    public func link(at port: Int) -> (any PortLink)? {
        ports.indices.contains(port) ? ports[port].link : nil
    }

    /// Picks the port for a new link: the requested one if free, else the lowest free >= 1.
    public func allocatePort(requested: Int?) -> Result<Int, PortAllocationError> {
        if let requested {
            guard ports.indices.contains(requested) else { return .failure(.outOfRange(requested)) }
            guard ports[requested].link == nil else { return .failure(.inUse(requested)) }
            return .success(requested)
        }
        guard let port = core.lowestFreePort(from: 1) else { return .failure(.noFreePort) }
        return .success(port)
    }

    public func attach(_ link: any PortLink, port: Int, kind: Switch.PortKind = .edge, guards: STPPortGuards = STPPortGuards()) {
        precondition(ports[port].link == nil, "port \(port) already has a link")
        ports[port].link = link
        core.activatePort(port, kind: kind, guards: guards, now: loop.now)
        sendPendingBPDUs()
        logger.info("port up", metadata: ["port": "\(port)", "kind": "\(link.kind)", "client": "\(LogText.escaped(link.linkDescription))"])
    }

    /// Takes the port down: its stations are forgotten and its link closed.
    public func detach(port: Int, reason: String) {
        guard let link = link(at: port) else { return }
        ports[port].link = nil
        core.deactivatePort(port, now: loop.now)
        link.close()
        egressDrained(port: port)
        sendPendingBPDUs()
        logger.info("port down", metadata: ["port": "\(port)", "reason": "\(reason)"])
    }

    public func detachAll(reason: String) {
        for port in ports.indices where ports[port].link != nil {
            detach(port: port, reason: reason)
        }
    }

    // MARK: The one way in

    // Links own their sockets and read them; they hand the engine what they read, either a
    // batch read straight into the engine's ingress buffers (no copy) or frames one at a time
    // (a stream's, a peer's, a plug's), which are copied into the same buffers so that frames
    // arriving together leave together. Either way each frame is switched and staged on its
    // egress links, and every touched link is flushed once: one `sendmmsg` per egress port
    // for the whole batch.

    /// The buffers a link reads a batch into, before `receiveBatch(count:from:)`. Frames
    /// handed over one at a time and not yet flushed are in them: they leave first.
    public func ingressBuffers() -> ReceiveBatch {
        finishCopiedBatch()
        return receiveBatch
    }

    /// Forwards the `count` frames a link read into `ingressBuffers()` and flushes them. False
    /// when the link should stop reading for now: it was paused behind a backed-up port, or
    /// was detached (a send error while flushing).
    public func receiveBatch(count: Int, from port: Int) -> Bool {
        let now = loop.now
        for index in 0..<count {
            forward(receiveBatch.datagram(index), from: port, now: now, slot: index)
        }
        let backedUp = flushTouchedPorts()
        if !core.pendingBPDUs.isEmpty { sendPendingBPDUs() }
        guard ports[port].link != nil else { return false }
        if let backedUp {
            pause(port, behind: backedUp)
            return false
        }
        return true
    }

    /// Forwards one frame from a link that reads one frame at a time (an F2F peer, a
    /// libvdeplug plug, a stream, an unconnected dgram socket). It is copied into the ingress
    /// buffers and flushed with the others at the end of the current dispatch.
    public func receive(_ frame: UnsafeRawBufferPointer, from port: Int) {
        receive(frame, from: port, routed: false)
    }

    /// A routed frame (`meshFrame` packet: mesh header, then the frame) from a peer link.
    public func receiveRouted(_ packet: UnsafeRawBufferPointer, from port: Int) {
        receive(packet, from: port, routed: true)
    }

    private func receive(_ frame: UnsafeRawBufferPointer, from port: Int, routed: Bool) {
        if copiedCount == receiveBatch.capacity { finishCopiedBatch() }
        let slot = receiveBatch.buffer(copiedCount)
        // A frame longer than the slot is cut to maxFrameSize + 1: still dropped as oversize.
        let count = min(frame.count, slot.count)
        if count > 0, let source = frame.baseAddress {
            slot.baseAddress!.copyMemory(from: source, byteCount: count)
        }
        copiedCount += 1
        if !copiedFrom.contains(port) { copiedFrom.append(port) }
        let copy = UnsafeRawBufferPointer(rebasing: slot[..<count])
        if routed {
            forwardRouted(copy, from: port, now: loop.now, slot: copiedCount - 1)
        } else {
            forward(copy, from: port, now: loop.now, slot: copiedCount - 1)
        }
        if !isCopiedBatchScheduled {
            isCopiedBatchScheduled = true
            loop.afterCurrentDispatch { [unowned self] in finishCopiedBatch() }
        }
    }

    private func finishCopiedBatch() {
        isCopiedBatchScheduled = false
        guard copiedCount > 0 else { return }
        copiedCount = 0
        if let backedUp = flushTouchedPorts() {
            for port in copiedFrom { pause(port, behind: backedUp) }
        }
        copiedFrom.removeAll(keepingCapacity: true)
        if !core.pendingBPDUs.isEmpty { sendPendingBPDUs() }
    }

    /// `frame` is in slot `slot` of the ingress buffers (with their headroom); a flood's VLAN
    /// rewrite takes the same slot of `vlanScratch`, so both stay valid until the batch is
    /// flushed.
    @inline(__always)
    private func forward(_ frame: UnsafeRawBufferPointer, from port: Int, now: Instant, slot: Int) {
        if let capture = ports[port].capture { capture.record(frame, now: now) }
        let bytes = frame.bindMemory(to: UInt8.self)
        let decision = core.receive(frame: bytes.span, on: port, now: now)
        if meshTable != nil, routeThroughMesh(frame, decision: decision, from: port, slot: slot) { return }
        switch decision {
        case .unicast(let egress):
            // With VLANs in use, `receive` said how the one copy leaves (a hub never decides
            // on a unicast): the same as it came, the common case, costs these two tests.
            var copy = frame
            if core.vlans.isInUse, core.unicastLeavesTagged != core.frameWasTagged {
                guard let retagged = retagged(frame, for: egress) else { return }
                copy = retagged
            }
            stage(copy, on: egress)
        case .flood:
            // A hub repeats frames as they came, whatever VLANs exist (as vde_switch -x).
            if core.vlans.isInUse, !core.configuration.isHub {
                floodInVLAN(frame, from: port, slot: slot)
                return
            }
            for egress in core.floodPorts where egress != port {
                stage(frame, on: egress)
            }
        case .drop, .consumed:
            break
        }
    }

    // MARK: Mesh routing

    /// Installs the mesh's routes (nil: mesh routing off, everything on the spanning tree).
    public func setMeshTable(_ table: MeshForwardingTable?) {
        meshTable = table
    }

    /// A unicast frame entering the mesh here (from a local port) for a station another node
    /// owns goes straight to that node's next hop instead of along the tree: one dictionary
    /// lookup. Only at the ingress node: a frame already on the tree stays on it, so no
    /// frame is ever both flooded and routed (docs/mesh-routing.md).
    ///
    /// With VLANs in use the station is looked up in the VLAN the core classified the frame
    /// into, and the frame crosses the mesh in the form a friend link (a trunk) carries that
    /// VLAN in, as it would on the tree: tagged, unless it is the link's untagged VLAN. The
    /// owner reads the VLAN back the same way (`deliverRouted`).
    @inline(__always)
    private func routeThroughMesh(_ frame: UnsafeRawBufferPointer, decision: ForwardingDecision, from port: Int, slot: Int) -> Bool {
        switch decision {
        case .unicast(let egress):
            guard core.ports[egress].kind == .pointToPoint else { return false }
        case .flood:
            break
        case .drop, .consumed:
            return false
        }
        guard core.ports[port].kind == .edge, !core.configuration.isHub else { return false }
        guard core.vlans.isInUse else {
            // Read in place (a final class's stored property): no copy of the table per frame.
            guard let hop = meshTable?.stations[Self.stationKey(of: frame)] else { return false }
            stageRouted(frame, header: MeshFrameHeader(owner: hop.owner), on: hop.port, slot: slot)
            meshCounters.routed &+= 1
            return true
        }
        let vlan = core.frameVLAN
        guard let hop = meshTable?.stations[UInt64(vlan) << 48 | Self.destination(of: frame)] else { return false }
        // A friend link is a tagged member of every VLAN that exists but its untagged one,
        // unless its list leaves the VLAN out: then the tree's decision stands, which keeps
        // the frame off that link too.
        let tagged = core.ports[hop.port].untaggedVLAN != vlan
        if tagged, !core.vlans.isAllowedOnLink(hop.port, vlan: vlan) { return false }
        var onTheMesh = frame
        if tagged != core.frameWasTagged {
            guard let rewritten = vlanScratch.rewrite(frame, slot: slot, tagging: tagged ? vlan : nil), rewritten.count <= maxFrameSize else {
                return false
            }
            onTheMesh = rewritten
        }
        stageRouted(onTheMesh, header: MeshFrameHeader(owner: hop.owner), on: hop.port, slot: slot)
        meshCounters.routed &+= 1
        return true
    }

    /// A routed frame from a peer: delivered here if this node owns its destination, else
    /// passed on towards the owner. Never learned from, never flooded to peers.
    private func forwardRouted(_ packet: UnsafeRawBufferPointer, from port: Int, now: Instant, slot: Int) {
        guard let ownID = meshTable?.ownID, packet.count >= MeshFrameHeader.encodedCount + EthernetHeader.minimumCount,
            packet.count - MeshFrameHeader.encodedCount <= maxFrameSize, core.isActive(port)
        else {
            meshCounters.droppedMalformed &+= 1
            return
        }
        let header: MeshFrameHeader
        do {
            header = try MeshFrameHeader(parsing: packet.bindMemory(to: UInt8.self).span)
        } catch {
            meshCounters.droppedMalformed &+= 1
            return
        }
        let frame = UnsafeRawBufferPointer(rebasing: packet[MeshFrameHeader.encodedCount...])
        core.recordReceived(port: port, byteCount: frame.count)
        // A tagged frame of a VLAN the link's list leaves out is refused as on the tree (the
        // untagged VLAN always crosses); without VLANs in use no list applies.
        let vid = core.vlans.isInUse ? Self.taggedVID(of: frame) : nil
        if let vid, !core.vlans.isAllowedOnLink(port, vlan: vid) {
            core.recordDrop(port: port, reason: .vlan)
            return
        }
        if header.owner == ownID {
            if core.vlans.isInUse {
                deliverRoutedInVLAN(frame, taggedVID: vid, from: port, now: now, slot: slot)
            } else {
                deliverRouted(frame, now: now)
            }
            return
        }
        guard header.hopLimit > 1 else {
            meshCounters.droppedHopLimit &+= 1
            return
        }
        guard let egress = meshTable?.nodes[header.owner] else {
            meshCounters.droppedNoRoute &+= 1
            return
        }
        // The next link does not carry the frame's VLAN: no route for it in that VLAN.
        if let vid, !core.vlans.isAllowedOnLink(egress, vlan: vid) {
            meshCounters.droppedNoRoute &+= 1
            return
        }
        stageRouted(frame, header: MeshFrameHeader(owner: header.owner, hopLimit: header.hopLimit - 1), on: egress, slot: slot)
        meshCounters.relayed &+= 1
    }

    /// To the local port the station is on; if it is not known (aged, or gone since this node
    /// advertised it), to every local port — never back into the mesh.
    private func deliverRouted(_ frame: UnsafeRawBufferPointer, now: Instant) {
        let key = Self.stationKey(of: frame)
        let address = MACAddress(rawValue: key & 0xFFFF_FFFF_FFFF)
        if let egress = core.macTable.lookup(address, vlanID: UInt16(key >> 48), now: now), core.ports[egress].kind == .edge,
            core.isActive(egress), core.ports[egress].state.forwards
        {
            stage(frame, on: egress)
            meshCounters.delivered &+= 1
            return
        }
        for egress in core.floodPorts where core.ports[egress].kind == .edge {
            stage(frame, on: egress)
        }
        meshCounters.deliveredByFlood &+= 1
    }

    /// `deliverRouted` with VLANs in use: the frame's VLAN is its tag's, or untagged, the
    /// untagged VLAN of the friend link it came in on (as a tree frame from that link would be
    /// classified); each copy leaves a local port in the form the port's membership of that
    /// VLAN wants, and ports outside the VLAN get none.
    private func deliverRoutedInVLAN(_ frame: UnsafeRawBufferPointer, taggedVID: UInt16?, from port: Int, now: Instant, slot: Int) {
        let wasTagged = taggedVID != nil
        let vlan = taggedVID ?? core.ports[port].untaggedVLAN
        guard core.vlans.exists(vlan) else {
            meshCounters.droppedNoRoute &+= 1
            return
        }
        var rewritten: UnsafeRawBufferPointer?
        let address = MACAddress(rawValue: Self.destination(of: frame))
        if let egress = core.macTable.lookup(address, vlanID: vlan, now: now), core.ports[egress].kind == .edge,
            core.isActive(egress), core.ports[egress].state.forwards,
            stageDelivered(frame, vlan: vlan, wasTagged: wasTagged, on: egress, slot: slot, rewritten: &rewritten)
        {
            meshCounters.delivered &+= 1
            return
        }
        for egress in core.floodPorts where core.ports[egress].kind == .edge {
            _ = stageDelivered(frame, vlan: vlan, wasTagged: wasTagged, on: egress, slot: slot, rewritten: &rewritten)
        }
        meshCounters.deliveredByFlood &+= 1
    }

    /// One delivered copy on a local port, tagged or not as its membership of `vlan` says;
    /// false when the port is not in the VLAN (or the tag would not fit).
    @inline(__always)
    private func stageDelivered(
        _ frame: UnsafeRawBufferPointer, vlan: UInt16, wasTagged: Bool, on egress: Int, slot: Int, rewritten: inout UnsafeRawBufferPointer?
    ) -> Bool {
        let tagged: Bool
        if core.ports[egress].untaggedVLAN == vlan {
            tagged = false
        } else if core.vlans.isTaggedMember(egress, vlan: vlan) {
            tagged = true
        } else {
            return false
        }
        if tagged == wasTagged {
            stage(frame, on: egress)
            return true
        }
        if rewritten == nil { rewritten = vlanScratch.rewrite(frame, slot: slot, tagging: wasTagged ? nil : vlan) }
        guard let rewritten, rewritten.count <= maxFrameSize else {
            core.recordDrop(port: egress, reason: .oversize)
            return false
        }
        stage(rewritten, on: egress)
        return true
    }

    private func stageRouted(_ frame: UnsafeRawBufferPointer, header: MeshFrameHeader, on port: Int, slot: Int) {
        let record = ports[port]
        guard let link = record.link else { return }
        link.stageRouted(meshScratch.wrap(frame, header: header, slot: slot))
        if !record.isTouched {
            record.isTouched = true
            touchedPorts.append(port)
        }
    }

    @inline(__always)
    static func destination(of frame: UnsafeRawBufferPointer) -> UInt64 {
        var destination: UInt64 = 0
        for index in 0..<6 { destination = destination << 8 | UInt64(frame[index]) }
        return destination
    }

    @inline(__always)
    static func taggedVID(of frame: UnsafeRawBufferPointer) -> UInt16? {
        EthernetHeader.taggedVID(in: frame.bindMemory(to: UInt8.self).span)
    }

    /// The destination's station key as the MAC table would see it with VLANs not in use:
    /// the 802.1Q VID of a tagged frame, else 0.
    @inline(__always)
    static func stationKey(of frame: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(taggedVID(of: frame) ?? 0) << 48 | destination(of: frame)
    }

    /// A unicast whose one copy leaves in the other form: the tag goes in or out in the
    /// frame's own ingress buffer (nothing else reads it after this copy), so only its 12
    /// address bytes move, where a rewritten copy would move the whole frame.
    /// (Only mutating calls and field reads on `core` here and below: a non-mutating method
    /// call on it copies the whole switch value, its arrays retained and released, on every
    /// frame.)
    /// Inlined, with one `stage` after it for both forms: a call of its own and a second
    /// copy of the staging cost a tagged unicast about 30 instructions (callgrind).
    /// Nil: the frame cannot take a tag (dropped and counted on the egress port).
    @inline(__always)
    private func retagged(_ frame: UnsafeRawBufferPointer, for egress: Int) -> UnsafeRawBufferPointer? {
        // Classified as tagged, so it holds a whole tag.
        if core.frameWasTagged { return InPlaceVLANTag.remove(from: frame) }
        guard frame.count + InPlaceVLANTag.tagSize <= maxFrameSize else {
            // Only a frame already at the maximum size cannot take a tag.
            core.recordDrop(port: egress, reason: .oversize)
            return nil
        }
        return InPlaceVLANTag.insert(core.frameVLAN, into: frame)
    }

    /// Each copy of a flood leaves as the port's membership wants it: as received when the
    /// form matches, else rewritten (tag added or removed) once per frame into the scratch
    /// slot, the received frame staying as it came for the other copies.
    private func floodInVLAN(_ frame: UnsafeRawBufferPointer, from port: Int, slot: Int) {
        var rewritten: UnsafeRawBufferPointer?
        core.selectVLANTargets(for: .flood, from: port)
        for target in core.vlanTargets {
            stageInVLAN(frame, tagged: target.tagged, on: target.port, slot: slot, rewritten: &rewritten)
        }
    }

    @inline(__always)
    private func stageInVLAN(
        _ frame: UnsafeRawBufferPointer, tagged: Bool, on egress: Int, slot: Int, rewritten: inout UnsafeRawBufferPointer?
    ) {
        let wasTagged = core.frameWasTagged
        if tagged == wasTagged { return stage(frame, on: egress) }
        if rewritten == nil { rewritten = vlanScratch.rewrite(frame, slot: slot, tagging: wasTagged ? nil : core.frameVLAN) }
        // Only a frame already at the maximum size cannot take a tag.
        guard let rewritten, rewritten.count <= maxFrameSize else {
            core.recordDrop(port: egress, reason: .oversize)
            return
        }
        stage(rewritten, on: egress)
    }

    /// Sends what the spanning tree decided, ahead of bulk traffic where the link allows it.
    private func sendPendingBPDUs() {
        if !core.pendingNotices.isEmpty { reportSpanningTreeNotices() }
        scheduleHoldEndTick()
        guard let bridgeAddress = core.spanningTree?.bridgeAddress else {
            _ = core.takePendingBPDUs()
            return
        }
        for (port, bpdu) in core.takePendingBPDUs() {
            guard let link = ports[port].link else { continue }
            bpduFrame.removeAll(keepingCapacity: true)
            bpdu.encodeFrame(source: bridgeAddress, into: &bpduFrame)
            bpduFrame.withUnsafeBytes { frame in
                if let capture = ports[port].capture { capture.record(frame, now: loop.now) }
                link.sendControl(frame)
            }
            core.recordSent(port: port, byteCount: bpduFrame.count)
        }
    }

    /// What the guards did: each notice is a change of state (or a summary), never per frame.
    private func reportSpanningTreeNotices() {
        for notice in core.takePendingNotices() {
            switch notice {
            case .rootInconsistent(let port, let root):
                // Said once per episode; a VDE cable to another switch is the usual cause.
                logger.warning(
                    "root guard: port discarding (root-inconsistent), its neighbour announces a better root; if it is a cable to another switch, allow it with --client-root or stp/setrootguard PORT 0",
                    metadata: ["port": "\(port)", "root": "\(root)", "client": "\(LogText.escaped(ports[port].link?.linkDescription ?? ""))"])
            case .rootConsistent(let port):
                logger.notice("root guard: port no longer root-inconsistent", metadata: ["port": "\(port)"])
            case .topologyChangesIgnored(let port, let count):
                // A neighbour repeats one change in every BPDU for a few seconds, so a few
                // ignored ones are normal; many are a flood (or a guard at work).
                logger.log(
                    level: count >= 10 ? .info : .debug, "topology changes ignored (guard or rate limit)",
                    metadata: ["port": "\(port)", "count": "\(count)"])
            case .fixPointCapReached(let count):
                logger.error("spanning tree: roles did not settle within the pass limit; continuing from the state reached", metadata: ["count": "\(count)"])
            case .bpduGuardTripped(let port):
                logger.warning("BPDU guard: a BPDU arrived, taking the port down", metadata: ["port": "\(port)"])
                // Not while the port's own frames are being forwarded: after this dispatch.
                let link = ports[port].link
                loop.afterCurrentDispatch { [weak self] in
                    guard let self, let link, ports[port].link === link else { return }
                    detach(port: port, reason: "BPDU guard")
                }
            }
        }
    }

    @inline(__always)
    private func stage(_ frame: UnsafeRawBufferPointer, on port: Int) {
        let record = ports[port]
        guard let link = record.link else { return }
        if let capture = record.capture { capture.record(frame, now: loop.now) }
        link.stage(frame)
        if !record.isTouched {
            record.isTouched = true
            touchedPorts.append(port)
        }
    }

    /// Flushes every link the batch touched; returns one of them that is now backed up (and
    /// not stalled), if any.
    private func flushTouchedPorts() -> Int? {
        guard !touchedPorts.isEmpty else { return nil }
        var backedUp: Int?
        for port in touchedPorts {
            let record = ports[port]
            record.isTouched = false
            guard let link = record.link else { continue }
            link.flush()
            if record.backPressure.holdsSources(isBackedUp: link.isBackedUp) { backedUp = port }
        }
        touchedPorts.removeAll(keepingCapacity: true)
        return backedUp
    }

    // MARK: Packet capture

    /// Starts writing what `port` receives and is sent to `capture`; nil when it started. A
    /// capture belongs to the port number, like a mirror on a hardware switch's port: it goes
    /// on while clients leave and attach, until it is stopped.
    public func startCapture(_ capture: PacketCapture, port: Int) -> CaptureStartError? {
        guard ports.indices.contains(port) else { return .noSuchPort }
        guard ports[port].capture == nil else { return .alreadyCaptured }
        ports[port].capture = capture
        return nil
    }

    /// Ends `port`'s capture (written out as far as the destination takes it) and returns it.
    @discardableResult
    public func stopCapture(port: Int) -> PacketCapture? {
        guard ports.indices.contains(port), let capture = ports[port].capture else { return nil }
        ports[port].capture = nil
        capture.stop()
        return capture
    }

    public func capture(at port: Int) -> PacketCapture? {
        ports.indices.contains(port) ? ports[port].capture : nil
    }

    // MARK: Back-pressure

    private func pause(_ ingress: Int, behind egress: Int) {
        guard ports[ingress].link?.pauseReceiving() == true else { return }
        ports[egress].backPressure.paused(ingress, now: loop.now)
        core.recordPause(port: ingress)
    }

    /// The link sent everything it held (or went away): its senders may go on.
    public func egressDrained(port: Int) {
        ports[port].backPressure.drained(resume: { self.resumeReceiving($0) })
    }

    /// From the periodic tick: a link its senders have waited on for `stallTimeout` is stalled.
    private func releaseStalledPorts() {
        let now = loop.now
        for port in ports.indices {
            guard ports[port].backPressure.checkStall(now: now, timeout: stallTimeout, resume: { self.resumeReceiving($0) }) else { continue }
            logger.debug("port stalled: frames for it are dropped until it drains", metadata: ["port": "\(port)"])
        }
    }

    /// Resuming only changes what the loop watches (peers defer their reading to after this
    /// dispatch), so nothing here re-enters the engine.
    private func resumeReceiving(_ port: Int) {
        ports[port].link?.resumeReceiving()
    }

    // MARK: Egress accounting (called by links)

    public func recordSent(port: Int, byteCount: Int) {
        core.recordSent(port: port, byteCount: byteCount)
    }

    public func recordDrop(port: Int, reason: DropReason) {
        core.recordDrop(port: port, reason: reason)
    }

    // MARK: Housekeeping and configuration

    /// A tick exactly when the spanning tree's stale-information hold ends.
    private func scheduleHoldEndTick() {
        guard let end = core.spanningTree?.staleInformationHoldEnds, end != scheduledHoldEnd else { return }
        scheduledHoldEnd = end
        loop.schedule(after: max(.zero, end - loop.now)) { [weak self] in self?.tick() }
    }

    /// Timers: spanning tree (call several times a second) and MAC aging.
    public func tick() {
        core.tick(now: loop.now)
        releaseStalledPorts()
        sendPendingBPDUs()
        reportRuleDrops()
    }

    /// Warns about frames dropped by the MAC rules (a friend sending a local or static
    /// station's address, a locked port's unknown source) or by storm control since the
    /// last report.
    private func reportRuleDrops() {
        let now = loop.now
        guard now >= nextDropReport else { return }
        var reported = false
        for port in core.ports.indices {
            let current = RuleDrops(core.ports[port].counters)
            let last = ports[port].reportedDrops
            guard current != last else { continue }
            ports[port].reportedDrops = current
            // After port/resetcounter the counters start again from zero.
            let since = current.since(last)
            guard since.total > 0 else { continue }
            reported = true
            var metadata: Logger.Metadata = [
                "port": "\(port)", "protected-mac": "\(since.protectedAddress)", "locked": "\(since.locked)",
                "storm": "\(since.storm)",
            ]
            if since.protectedAddress > 0, let address = core.ports[port].lastProtectedSource {
                metadata["mac"] = "\(address)"
            }
            logger.warning("frames dropped by MAC or storm rules", metadata: metadata)
        }
        if reported { nextDropReport = now + dropReportInterval }
    }

    /// Turns the spanning tree on (with `tree`'s settings) or off at run time.
    public func setSpanningTree(_ tree: SpanningTree?) {
        core.setSpanningTree(tree, now: loop.now)
        sendPendingBPDUs()
    }

    public func withSpanningTree(_ body: (inout SpanningTree, inout [STPAction]) -> Void) {
        core.withSpanningTree(now: loop.now, body)
        sendPendingBPDUs()
    }

    public func setGuards(_ guards: STPPortGuards, port: Int) {
        core.setGuards(guards, port: port, now: loop.now)
        sendPendingBPDUs()
    }

    public func setPathCost(_ cost: UInt32, port: Int) {
        core.setPathCost(cost, port: port, now: loop.now)
        sendPendingBPDUs()
    }

    public func setMACAgingTime(_ duration: Duration) {
        core.setMACAgingTime(duration)
    }

    public func resetCounters(port: Int?) {
        core.resetCounters(port: port)
    }

    public func addStaticEntry(_ address: MACAddress, vlanID: UInt16, port: Int) {
        core.addStaticEntry(address, vlanID: vlanID, port: port)
    }

    public func removeEntry(_ address: MACAddress, vlanID: UInt16) -> Bool {
        core.removeEntry(address, vlanID: vlanID)
    }

    public func setLearning(_ learning: Bool, port: Int) {
        core.setLearning(learning, port: port)
    }

    public func setLocked(_ locked: Bool, port: Int) {
        core.setLocked(locked, port: port)
    }

    public func setStormLimit(_ rate: UInt32, for floodClass: FloodClass, port: Int) {
        core.setStormLimit(rate, for: floodClass, port: port)
    }

    public func resetStormLimits(port: Int) {
        core.resetStormLimits(port: port)
    }

    public func setHub(_ hub: Bool) {
        core.setHub(hub)
    }

    public func createVLAN(_ vlan: UInt16) throws(VLANError) { try core.createVLAN(vlan) }
    public func removeVLAN(_ vlan: UInt16) throws(VLANError) { try core.removeVLAN(vlan) }
    public func addTaggedPort(_ port: Int, vlan: UInt16) throws(VLANError) { try core.addTaggedPort(port, vlan: vlan) }
    public func removeTaggedPort(_ port: Int, vlan: UInt16) throws(VLANError) { try core.removeTaggedPort(port, vlan: vlan) }
    public func setUntaggedVLAN(_ vlan: UInt16, port: Int) throws(VLANError) { try core.setUntaggedVLAN(vlan, port: port) }
    public func setLinkVLANs(_ list: VLANList, port: Int) { core.setLinkVLANs(list, port: port) }
    public func createPort(_ port: Int) -> Bool { core.createPort(port) }
    public func unmakePort(_ port: Int) -> Bool { core.unmakePort(port) }
}

/// A port's drops by the MAC and storm rules, as the engine last reported them.
struct RuleDrops: Equatable {
    var protectedAddress: UInt64 = 0
    var locked: UInt64 = 0
    var storm: UInt64 = 0

    init() {}

    init(_ counters: PortCounters) {
        protectedAddress = counters[dropped: .protectedAddress]
        locked = counters[dropped: .locked]
        storm = counters[dropped: .stormBroadcast] &+ counters[dropped: .stormMulticast] &+ counters[dropped: .stormUnknownUnicast]
    }

    var total: UInt64 { protectedAddress &+ locked &+ storm }

    /// What was added since `earlier`; a counter below its earlier value was reset.
    func since(_ earlier: RuleDrops) -> RuleDrops {
        func delta(_ now: UInt64, _ then: UInt64) -> UInt64 { now >= then ? now - then : now }
        var result = RuleDrops()
        result.protectedAddress = delta(protectedAddress, earlier.protectedAddress)
        result.locked = delta(locked, earlier.locked)
        result.storm = delta(storm, earlier.storm)
        return result
    }
}

public enum CaptureStartError: Error, Equatable, Sendable {
    /// The port number is out of range.
    case noSuchPort
    /// The port is captured already (one capture per port).
    case alreadyCaptured
}

public enum PortAllocationError: Error, Equatable, CustomStringConvertible {
    case outOfRange(Int)
    case inUse(Int)
    case noFreePort

    public var description: String {
        switch self {
        case .outOfRange(let port): "port \(port) out of range"
        case .inUse(let port): "port \(port) is taken"
        case .noFreePort: "no free port"
        }
    }
}
