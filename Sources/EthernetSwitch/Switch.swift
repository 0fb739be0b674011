import F2FBase

/// The learning Ethernet switch: pure decisions over numbered ports, virtual time.
///
/// The I/O layer feeds every received frame to `receive(frame:on:now:)` and performs the
/// decision; it reports what happened at egress with `recordSent`/`recordDrop`.
public struct Switch: Sendable {
    public struct Port: Sendable {
        public var isActive = false
        /// Made with `port/create`: the port takes settings before a client comes, and
        /// automatic allocation passes it by (vde_switch's rules); `port/remove` unmakes it.
        public var isCreated = false
        public var counters = PortCounters()
        /// Spanning tree state; `.forwarding` whenever the spanning tree is off.
        public var state: STPPortState = .forwarding
        public var kind: PortKind = .edge
        public var pathCost: UInt32 = 20_000
        /// Spanning tree guards, kept while the tree is turned off and on.
        public var guards = STPPortGuards()
        // MAC and storm rules: settings, so they stay with the port when its client goes, as
        // vde_switch keeps an inactive port's settings for the next client.
        /// One field for both MAC settings: the usual port (none set) costs a frame one test.
        public var macRules: MACRules = []
        /// Off: the port's sources are not learned (their traffic still passes).
        public var learning: Bool { !macRules.contains(.learningOff) }
        /// Only sources with a static entry on this port pass (Linux bridge's `locked`).
        public var isLocked: Bool { macRules.contains(.locked) }
        /// Set from the console; nil: the configuration's default for the port's kind.
        public var stormLimits: StormLimits?
        var stormMeters = StormMeters()
        /// The last source address dropped as protected, for the engine's warning.
        public var lastProtectedSource: MACAddress?
        /// The VLAN of untagged frames on this port (`port/setvlan`); `VLANs.none`: untagged
        /// frames are dropped. A setting: it stays when the client goes, as in vde_switch.
        public var untaggedVLAN: UInt16 = 0
    }

    /// A port's departures from plain learning (`port/setlearning`, `port/setlocked`).
    public struct MACRules: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let learningOff = MACRules(rawValue: 1)
        public static let locked = MACRules(rawValue: 2)
    }

    /// How a port is cabled, which decides its spanning tree defaults.
    public enum PortKind: Sendable {
        /// A VDE client or `--plug` port: an edge port, forwarding at once (auto-edge: a BPDU ends it).
        case edge
        /// An F2F peer link: point-to-point, rapid proposal/agreement.
        case pointToPoint
    }


    public private(set) var configuration: SwitchConfiguration
    public private(set) var macTable: MACTable
    /// Indexed by port number. Counters outlive a client, like vde_switch's inactive ports.
    public private(set) var ports: [Port]
    /// Active forwarding ports in ascending order: the targets of a flood (the ingress is skipped).
    public private(set) var floodPorts: [Int] = []
    /// 802.1Q membership; while `vlans.isInUse` is false the data path ignores it entirely.
    public private(set) var vlans: VLANs
    /// The VLAN of the last frame `receive` decided on and whether it came tagged; set only
    /// while VLANs are in use (the engine reads it to tag or untag each egress copy).
    public private(set) var frameVLAN: UInt16 = 0
    public private(set) var frameWasTagged = false
    /// For a unicast decision while VLANs are in use: whether its one copy leaves tagged, so
    /// the engine needs no target list for it.
    public private(set) var unicastLeavesTagged = false
    /// Where the last frame goes in its VLAN and whether each copy is tagged, from
    /// `selectVLANTargets`: built in place, so the engine reads one array per frame.
    public private(set) var vlanTargets: [VLANTarget] = []
    /// The rapid spanning tree; nil when turned off (BPDUs then flood like other multicast).
    public private(set) var spanningTree: SpanningTree?
    /// BPDUs the spanning tree wants sent; the I/O layer takes them after each call.
    public private(set) var pendingBPDUs: [(port: Int, bpdu: BPDU)] = []
    /// What the spanning tree's guards did, for the I/O layer to log and act on.
    public private(set) var pendingNotices: [STPNotice] = []
    private var stpActions: [STPAction] = []
    private var lastSweep = Instant.zero
    /// Frames that flooded because the table had no room for their source.
    public var refusedLearnCount: UInt64 { macTable.refusedCount }

    public init(configuration: SwitchConfiguration = SwitchConfiguration(), spanningTree: SpanningTree? = nil) {
        precondition(configuration.portCount > 0, "a switch needs ports")
        self.configuration = configuration
        self.spanningTree = spanningTree
        macTable = MACTable(capacity: configuration.macTableCapacity, agingTime: configuration.macAgingTime)
        macTable.peerCapacity = configuration.peersMACLimit
        ports = Array(repeating: Port(), count: configuration.portCount)
        vlans = VLANs(portCount: configuration.portCount)
        vlanTargets.reserveCapacity(configuration.portCount)
        floodPorts.reserveCapacity(configuration.portCount)
    }

    // MARK: Ports

    /// Inlinable: called per frame from the engine, which holds the switch in a class, and a
    /// call it cannot see into takes a copy of the whole switch value (a few dozen reference
    /// counts); inlined, it reads one array.
    @inlinable
    public func isActive(_ port: Int) -> Bool {
        ports.indices.contains(port) && ports[port].isActive
    }

    /// A port VLAN settings apply to: it has a client, or was made with `port/create`.
    public func exists(_ port: Int) -> Bool {
        ports.indices.contains(port) && (ports[port].isActive || ports[port].isCreated)
    }

    /// The lowest port at or above `lowest` with no client and not made with `port/create`,
    /// as vde_switch allocates.
    public func lowestFreePort(from lowest: Int = 1) -> Int? {
        (max(lowest, 0)..<ports.count).first { !ports[$0].isActive && !ports[$0].isCreated }
    }

    /// `port/create`: false if the port exists already (a client or an earlier create).
    public mutating func createPort(_ port: Int) -> Bool {
        precondition(ports.indices.contains(port), "no port \(port)")
        guard !exists(port) else { return false }
        ports[port].isCreated = true
        return true
    }

    /// `port/remove` of a port made with `port/create`: false if it was not made so.
    public mutating func unmakePort(_ port: Int) -> Bool {
        guard ports.indices.contains(port), ports[port].isCreated else { return false }
        ports[port].isCreated = false
        return true
    }

    public mutating func activatePort(_ port: Int, kind: PortKind = .edge, guards: STPPortGuards = STPPortGuards(), now: Instant = .zero) {
        precondition(ports.indices.contains(port) && !ports[port].isActive, "port \(port) not free")
        ports[port].isActive = true
        ports[port].kind = kind
        ports[port].guards = guards
        ports[port].pathCost = kind == .edge ? configuration.clientPathCost : configuration.peerPathCost
        ports[port].state = spanningTree == nil ? .forwarding : .discarding
        if ports[port].state == .forwarding { addToFlood(port) }
        enableInSpanningTree(port, now: now)
    }

    private mutating func enableInSpanningTree(_ port: Int, now: Instant) {
        let (kind, cost, guards) = (ports[port].kind, ports[port].pathCost, ports[port].guards)
        withSpanningTree(now: now) { tree, actions in
            tree.enablePort(
                port, pathCost: cost, edge: kind == .edge, pointToPoint: kind == .pointToPoint, guards: guards, now: now, actions: &actions)
        }
    }

    public mutating func setGuards(_ guards: STPPortGuards, port: Int, now: Instant) {
        guard isActive(port) else { return }
        ports[port].guards = guards
        withSpanningTree(now: now) { tree, actions in tree.setGuards(guards, port: port, now: now, actions: &actions) }
    }

    /// The port goes away and takes its stations with it; the spanning tree reacts at once.
    public mutating func deactivatePort(_ port: Int, now: Instant = .zero) {
        guard isActive(port) else { return }
        ports[port].isActive = false
        floodPorts.removeAll { $0 == port }
        macTable.removeEntries(onPort: port)
        // A link's list is its friend's, set again when a link next takes the port.
        if vlans.linkLists[port] != nil {
            vlans.setLinkList(.all, port: port)
            updateVLANsInUse()
        }
        withSpanningTree(now: now) { tree, actions in tree.disablePort(port, now: now, actions: &actions) }
    }

    /// Turns the spanning tree on (every active port restarts in it) or off (all forward).
    public mutating func setSpanningTree(_ tree: SpanningTree?, now: Instant) {
        spanningTree = tree
        for port in ports.indices where ports[port].isActive {
            ports[port].state = tree == nil ? .forwarding : .discarding
        }
        floodPorts = ports.indices.filter { ports[$0].isActive && ports[$0].state.forwards }
        guard tree != nil else { return }
        for port in ports.indices where ports[port].isActive {
            enableInSpanningTree(port, now: now)
        }
    }

    /// Runs one spanning tree input and applies what it decided.
    public mutating func withSpanningTree(now: Instant, _ body: (inout SpanningTree, inout [STPAction]) -> Void) {
        guard var tree = spanningTree else { return }
        stpActions.removeAll(keepingCapacity: true)
        body(&tree, &stpActions)
        spanningTree = tree
        for action in stpActions {
            switch action {
            case .transmit(let port, let bpdu):
                pendingBPDUs.append((port, bpdu))
            case .flush(let port):
                macTable.removeEntries(onPort: port)
            case .stateChanged(let port, let state):
                guard ports.indices.contains(port), ports[port].isActive else { continue }
                ports[port].state = state
                floodPorts.removeAll { $0 == port }
                if state.forwards { addToFlood(port) }
            case .notice(let notice):
                pendingNotices.append(notice)
            }
        }
    }

    public mutating func takePendingNotices() -> [STPNotice] {
        defer { pendingNotices.removeAll(keepingCapacity: true) }
        return pendingNotices
    }

    public mutating func takePendingBPDUs() -> [(port: Int, bpdu: BPDU)] {
        defer { pendingBPDUs.removeAll(keepingCapacity: true) }
        return pendingBPDUs
    }

    public mutating func setPathCost(_ cost: UInt32, port: Int, now: Instant) {
        ports[port].pathCost = cost
        withSpanningTree(now: now) { tree, actions in tree.setPathCost(cost, port: port, now: now, actions: &actions) }
    }

    private mutating func addToFlood(_ port: Int) {
        guard !floodPorts.contains(port) else { return }
        let insertAt = floodPorts.firstIndex { $0 > port } ?? floodPorts.endIndex
        floodPorts.insert(port, at: insertAt)
    }

    public mutating func resetCounters(port: Int? = nil) {
        for index in ports.indices where port == nil || port == index {
            ports[index].counters = PortCounters()
        }
    }

    // MARK: Data path

    /// Decides where one frame goes, learning its source on the way.
    public mutating func receive(frame: Span<UInt8>, on port: Int, now: Instant) -> ForwardingDecision {
        guard frame.count >= EthernetHeader.minimumCount else { return drop(.runt, on: port) }
        guard frame.count <= configuration.maxFrameSize else { return drop(.oversize, on: port) }
        guard ports[port].isActive else { return drop(.portBlocked, on: port) }
        ports[port].counters.framesIn &+= 1
        ports[port].counters.bytesIn &+= UInt64(frame.count)

        let destination = MACAddress(rawValue: frame.bigEndianUInt48(at: EthernetHeader.Field.destination))
        if destination == .bridgeGroup, spanningTree != nil {
            return receiveBPDU(frame, on: port, now: now)
        }
        let state = ports[port].state
        guard state.learns else { return drop(.portBlocked, on: port) }
        if configuration.isHub { return hubFlood(destination, state: state, from: port, now: now) }
        let source = MACAddress(rawValue: frame.bigEndianUInt48(at: EthernetHeader.Field.source))
        let vlanID: UInt16
        if vlans.isInUse {
            guard let classified = classifyVLAN(frame, on: port) else { return drop(.vlan, on: port) }
            vlanID = classified
        } else {
            vlanID = EthernetHeader.taggedVID(in: frame) ?? 0
        }
        let rules = ports[port].macRules
        if rules.contains(.locked), !macTable.isStatic(source, vlanID: vlanID, onPort: port) {
            return drop(.locked, on: port)
        }
        if !source.isMulticast, !rules.contains(.learningOff) {
            let fromPeer = ports[port].kind == .pointToPoint
            let limit = fromPeer ? configuration.peerMACLimit : configuration.clientMACLimit
            switch macTable.learn(source, vlanID: vlanID, port: port, now: now, portLimit: limit, onPeerPort: fromPeer) {
            case .learned, .refreshed, .moved, .refusedTableFull:
                break
            case .refusedPortFull, .refusedPeerShareFull:
                ports[port].counters.macLimitRefusals &+= 1
            case .refusedProtected:
                ports[port].lastProtectedSource = source
                return drop(.protectedAddress, on: port)
            }
        }
        guard state.forwards else { return drop(.portBlocked, on: port) }
        if destination.isMulticast {
            return flood(destination.isBroadcast ? .broadcast : .multicast, from: port, now: now)
        }
        guard let egress = macTable.lookup(destination, vlanID: vlanID, now: now) else {
            return flood(.unknownUnicast, from: port, now: now)
        }
        if egress == port { return drop(.hairpin, on: port) }
        // A static entry may point at a port whose client is gone: its traffic goes nowhere.
        var reachable = ports[egress].isActive && ports[egress].state.forwards
        if vlans.isInUse {
            // A static entry may also name a port outside the frame's VLAN.
            let form = egressForm(of: egress, vlan: vlanID)
            if form == .none { reachable = false }
            unicastLeavesTagged = form == .tagged
        }
        return reachable ? .unicast(port: egress) : drop(.portBlocked, on: port)
    }

    /// Hub mode (`-x`): every frame to every forwarding port but its ingress, as vde_switch -x,
    /// nothing learned. The spanning tree, when on, still blocks loops (BPDUs never get here).
    /// Storm control keeps its broadcast and multicast limits; a unicast is not a storm here,
    /// flooding it is what a hub does.
    private mutating func hubFlood(_ destination: MACAddress, state: STPPortState, from port: Int, now: Instant) -> ForwardingDecision {
        guard state.forwards else { return drop(.portBlocked, on: port) }
        guard destination.isMulticast else { return .flood }
        return flood(destination.isBroadcast ? .broadcast : .multicast, from: port, now: now)
    }

    /// Storm control, paid only by flooded frames: the ingress port's limit for the class.
    @inline(__always)
    private mutating func flood(_ floodClass: FloodClass, from port: Int, now: Instant) -> ForwardingDecision {
        let rate = stormLimits(ofPort: port)[floodClass]
        guard rate == 0 || ports[port].stormMeters.admit(floodClass, rate: rate, now: now) else {
            return drop(floodClass.dropReason, on: port)
        }
        return .flood
    }

    public mutating func recordSent(port: Int, byteCount: Int) {
        ports[port].counters.framesOut &+= 1
        ports[port].counters.bytesOut &+= UInt64(byteCount)
    }

    /// A frame that arrived on `port` but did not go through `receive` (a routed frame).
    public mutating func recordReceived(port: Int, byteCount: Int) {
        ports[port].counters.framesIn &+= 1
        ports[port].counters.bytesIn &+= UInt64(byteCount)
    }

    public mutating func recordDrop(port: Int, reason: DropReason) {
        ports[port].counters[dropped: reason] &+= 1
    }

    public mutating func recordPause(port: Int) {
        ports[port].counters.pauses &+= 1
    }

    /// Frames to the Bridge Group Address go to the spanning tree, valid or not, and are never
    /// forwarded; a malformed BPDU is counted and dropped, never trusted partially.
    private mutating func receiveBPDU(_ frame: Span<UInt8>, on port: Int, now: Instant) -> ForwardingDecision {
        let bpdu: BPDU
        do {
            bpdu = try BPDU(frame: frame)
        } catch {
            return drop(.malformed, on: port)
        }
        withSpanningTree(now: now) { tree, actions in tree.receive(bpdu, on: port, now: now, actions: &actions) }
        return .consumed
    }

    // MARK: VLANs

    /// The frame's VLAN on ingress, nil when 802.1Q ingress filtering drops it: untagged
    /// frames take the port's untagged VLAN, tagged ones must name a VLAN the port is a
    /// tagged member of (priority tags, VID 0, and VID 4095 name none).
    @inline(__always)
    private mutating func classifyVLAN(_ frame: Span<UInt8>, on port: Int) -> UInt16? {
        let taggedVID = EthernetHeader.taggedVID(in: frame)
        let tagged = taggedVID != nil
        let vlan: UInt16
        if let taggedVID {
            vlan = taggedVID
            guard vlan != 0, isTaggedMember(port, vlan: vlan) else { return nil }
        } else {
            vlan = ports[port].untaggedVLAN
            guard vlan != VLANs.none else { return nil }
        }
        frameVLAN = vlan
        frameWasTagged = tagged
        return vlan
    }

    /// A friend link is a trunk: a tagged member of every VLAN that exists here and its
    /// allowed-VLAN list lets through, but the one it carries untagged. A membership bit is
    /// set only for an existing VLAN that is not the port's untagged one (removing the VLAN or
    /// making it untagged clears it) nor left out by a link's list (`setLinkVLANs` clears
    /// those), so a member costs one bit test, and a friend link one more for its list.
    @inline(__always)
    private func isTaggedMember(_ port: Int, vlan: UInt16) -> Bool {
        if vlans.isTaggedMember(port, vlan: vlan) { return true }
        return ports[port].kind == .pointToPoint && vlans.exists(vlan) && ports[port].untaggedVLAN != vlan
            && vlans.isAllowedOnLink(port, vlan: vlan)
    }

    /// How a frame of `vlan` leaves `port`: without a tag on the port's untagged VLAN, with
    /// one where the port is a tagged member, not at all otherwise.
    @inline(__always)
    public func egressForm(of port: Int, vlan: UInt16) -> VLANEgress {
        if ports[port].untaggedVLAN == vlan { return .untagged }
        return isTaggedMember(port, vlan: vlan) ? .tagged : .none
    }

    /// Fills `vlanTargets` for the frame `receive` just decided on: the decision's ports that
    /// are in the frame's VLAN, each with the form its copy leaves in.
    public mutating func selectVLANTargets(for decision: ForwardingDecision, from ingress: Int) {
        vlanTargets.removeAll(keepingCapacity: true)
        switch decision {
        case .unicast(let egress):
            addVLANTarget(egress)
        case .flood:
            for egress in floodPorts where egress != ingress { addVLANTarget(egress) }
        case .drop, .consumed:
            break
        }
    }

    @inline(__always)
    private mutating func addVLANTarget(_ port: Int) {
        switch egressForm(of: port, vlan: frameVLAN) {
        case .none: break
        case .untagged: vlanTargets.append(VLANTarget(port: port, tagged: false))
        case .tagged: vlanTargets.append(VLANTarget(port: port, tagged: true))
        }
    }

    public func isVLANMember(_ port: Int, vlan: UInt16) -> (member: Bool, tagged: Bool) {
        let form = egressForm(of: port, vlan: vlan)
        return (form != .none, form == .tagged)
    }

    /// `vlan/create`: 1...4094 (the console keeps to vde_switch's 1...4093).
    public mutating func createVLAN(_ vlan: UInt16) throws(VLANError) {
        guard (1..<VLANs.none).contains(vlan) else { throw .invalidVLAN }
        guard !vlans.exists(vlan) else { throw .exists }
        vlans.create(vlan)
        updateVLANsInUse()
    }

    /// `vlan/remove`: refused while an active or created port is in the VLAN; inactive ports' settings
    /// for it go with it (their untagged VLAN falls back to 0). VLAN 0 always stays.
    public mutating func removeVLAN(_ vlan: UInt16) throws(VLANError) {
        guard vlans.exists(vlan) else { throw .noSuchVLAN }
        let inUse = ports.indices.contains { port in
            exists(port) && (ports[port].untaggedVLAN == vlan || vlans.isTaggedMember(port, vlan: vlan))
        }
        guard !inUse else { throw .inUse }
        guard vlan != 0 else { return }
        for port in ports.indices where ports[port].untaggedVLAN == vlan { ports[port].untaggedVLAN = 0 }
        vlans.remove(vlan)
        updateVLANsInUse()
    }

    /// `vlan/addport`: `port` becomes a tagged member (nothing changes if it is the port's
    /// untagged VLAN, as in vde_switch, nor if a friend link's list leaves the VLAN out: the
    /// list says what the link carries).
    public mutating func addTaggedPort(_ port: Int, vlan: UInt16) throws(VLANError) {
        guard vlans.exists(vlan) else { throw .noSuchVLAN }
        guard exists(port) else { throw .noSuchPort }
        guard ports[port].untaggedVLAN != vlan, vlans.isAllowedOnLink(port, vlan: vlan) else { return }
        vlans.setTaggedMember(port, vlan: vlan, true)
    }

    /// `peer/setvlans`: the tagged VLANs a friend link carries (`VLANList.all`: every VLAN
    /// that exists, the default). Frames of the others are neither sent over the link nor
    /// accepted from it (dropped and counted as `vlan`); its untagged VLAN crosses whatever
    /// the list. A list other than `all` puts the switch in VLAN mode, as `vlan/create` does:
    /// frames must be classified to be filtered. The list lasts until the port's link goes.
    public mutating func setLinkVLANs(_ list: VLANList, port: Int) {
        precondition(ports.indices.contains(port), "no port \(port)")
        vlans.setLinkList(list, port: port)
        // An explicit `vlan/addport` bit would let a left-out VLAN through the fast test.
        for vlan in vlans.identifiers where !vlans.isAllowedOnLink(port, vlan: vlan) {
            vlans.setTaggedMember(port, vlan: vlan, false)
        }
        updateVLANsInUse()
    }

    /// `vlan/delport`: the untagged VLAN cannot be left this way (`port/setvlan` moves it).
    public mutating func removeTaggedPort(_ port: Int, vlan: UInt16) throws(VLANError) {
        guard vlans.exists(vlan) else { throw .noSuchVLAN }
        guard exists(port) else { throw .noSuchPort }
        guard ports[port].untaggedVLAN != vlan else { throw .inUse }
        vlans.setTaggedMember(port, vlan: vlan, false)
    }

    /// `port/setvlan`: the port's untagged VLAN; `VLANs.none` leaves it without one. Its
    /// stations are forgotten, they were learned in the old VLAN.
    public mutating func setUntaggedVLAN(_ vlan: UInt16, port: Int) throws(VLANError) {
        guard vlan <= VLANs.none else { throw .invalidVLAN }
        guard exists(port) else { throw .noSuchPort }
        guard vlan == VLANs.none || vlans.exists(vlan) else { throw .noSuchVLAN }
        if vlan != VLANs.none { vlans.setTaggedMember(port, vlan: vlan, false) }
        if ports[port].untaggedVLAN != vlan { macTable.removeEntries(onPort: port) }
        ports[port].untaggedVLAN = vlan
        updateVLANsInUse()
    }

    /// The data path looks at VLANs only once one exists or a port left VLAN 0: until then
    /// the switch is VLAN-transparent, as before VLANs, and pays one branch per frame.
    private mutating func updateVLANsInUse() {
        vlans.isInUse = vlans.hasVLANsBesideZero || ports.contains { $0.untaggedVLAN != 0 } || !vlans.linkLists.isEmpty
    }

    // MARK: MAC and storm rules

    /// Pins a station to a port (`hash/add`): never aged, never moved, kept when the port's
    /// client goes; only `removeEntry` takes it away.
    public mutating func addStaticEntry(_ address: MACAddress, vlanID: UInt16, port: Int) {
        precondition(ports.indices.contains(port) && vlanID < 4096 && !address.isMulticast, "invalid static entry")
        macTable.addStatic(address, vlanID: vlanID, port: port)
    }

    /// Forgets a station's entry, static or learned (`hash/del`); false if it had none.
    @discardableResult
    public mutating func removeEntry(_ address: MACAddress, vlanID: UInt16) -> Bool {
        macTable.remove(address, vlanID: vlanID)
    }

    public mutating func setLearning(_ learning: Bool, port: Int) {
        if learning { ports[port].macRules.remove(.learningOff) } else { ports[port].macRules.insert(.learningOff) }
    }

    public mutating func setLocked(_ locked: Bool, port: Int) {
        if locked { ports[port].macRules.insert(.locked) } else { ports[port].macRules.remove(.locked) }
    }

    /// The limits in force on `port`: its own, or its kind's default.
    @inline(__always)
    public func stormLimits(ofPort port: Int) -> StormLimits {
        ports[port].stormLimits ?? (ports[port].kind == .edge ? configuration.clientStormLimits : configuration.peerStormLimits)
    }

    /// Sets one class's limit (frames/s, 0 = unlimited); the port keeps its own limits from
    /// now on, whoever takes it next. The class's bucket starts full.
    public mutating func setStormLimit(_ rate: UInt32, for floodClass: FloodClass, port: Int) {
        var limits = stormLimits(ofPort: port)
        limits[floodClass] = rate
        ports[port].stormLimits = limits
        ports[port].stormMeters = StormMeters()
    }

    /// Back to the defaults of the port's kind.
    public mutating func resetStormLimits(port: Int) {
        ports[port].stormLimits = nil
        ports[port].stormMeters = StormMeters()
    }

    // MARK: Time and configuration

    /// Periodic housekeeping: spanning tree timers (call several times a second) and MAC aging.
    public mutating func tick(now: Instant) {
        if now - lastSweep >= .seconds(1) {
            lastSweep = now
            macTable.expire(now: now)
        }
        withSpanningTree(now: now) { tree, actions in tree.tick(now: now, actions: &actions) }
    }

    /// `port/sethub`: hub mode on or off at run time. Learned stations are forgotten either way:
    /// a hub does not keep its table current, and its stale entries would misdirect frames once
    /// it switches again. Static entries stay.
    public mutating func setHub(_ hub: Bool) {
        configuration.isHub = hub
        for port in ports.indices { macTable.removeEntries(onPort: port) }
    }

    public mutating func setMACAgingTime(_ agingTime: Duration) {
        configuration.macAgingTime = agingTime
        macTable.agingTime = agingTime
    }

    private mutating func drop(_ reason: DropReason, on port: Int) -> ForwardingDecision {
        if ports.indices.contains(port) {
            ports[port].counters[dropped: reason] &+= 1
        }
        return .drop(reason)
    }
}
