import F2FBase

/// The learning Ethernet switch: pure decisions over numbered ports, virtual time.
///
/// The I/O layer feeds every received frame to `receive(frame:on:now:)` and performs the
/// decision; it reports what happened at egress with `recordSent`/`recordDrop`.
public struct Switch: Sendable {
    public struct Port: Sendable {
        public var isActive = false
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
        floodPorts.reserveCapacity(configuration.portCount)
    }

    // MARK: Ports

    public func isActive(_ port: Int) -> Bool {
        ports.indices.contains(port) && ports[port].isActive
    }

    /// The lowest inactive port at or above `lowest`, as vde_switch allocates.
    public func lowestFreePort(from lowest: Int = 1) -> Int? {
        (max(lowest, 0)..<ports.count).first { !ports[$0].isActive }
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
        let vlanID = Self.vlanID(of: frame)
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
        let reachable = ports[egress].isActive && ports[egress].state.forwards
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

    /// 802.1Q VID of a tagged frame, 0 otherwise (priority tags included).
    @inline(__always)
    private static func vlanID(of frame: Span<UInt8>) -> UInt16 {
        guard frame.count >= EthernetHeader.taggedCount,
            frame.bigEndianUInt16(at: EthernetHeader.Field.etherType) == EthernetHeader.vlanTagType
        else { return 0 }
        return frame.bigEndianUInt16(at: EthernetHeader.Field.tagControl) & 0x0FFF
    }
}
