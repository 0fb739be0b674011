import F2FBase

/// IEEE 802.1D-2004 clause 17 rapid spanning tree with legacy 802.1D fallback per port.
///
/// Pure: inputs are port changes, received BPDUs and `tick(now:)`; outputs are `STPAction`s
/// (BPDUs to send, MAC flushes, port state changes) appended to the caller's list. The state
/// machines of clause 17 are folded into procedures named after the standard's.
public struct SpanningTree: Sendable {
    public private(set) var configuration: SpanningTreeConfiguration
    public let bridgeAddress: MACAddress
    public private(set) var ports: [Int: STPPort] = [:]
    public private(set) var rootPriority: PriorityVector
    public private(set) var rootTimes: STPTimes
    public private(set) var rootPort: Int?
    public private(set) var topologyChangeCount: UInt64 = 0
    public private(set) var lastTopologyChange: Instant?
    private var reselect = false
    /// After our path to the root got worse: its id, and until when news of it is ignored.
    private var lostRoot: (id: BridgeID, until: Instant)?
    private var currentTime = Instant.zero
    /// Passes of role selection and transitions per update before giving up (see `update`).
    var fixPointPassLimit = 8
    /// Updates that stopped at `fixPointPassLimit` without settling.
    public private(set) var fixPointCapHits: UInt64 = 0

    public init(bridgeAddress: MACAddress, configuration: SpanningTreeConfiguration = SpanningTreeConfiguration()) {
        self.bridgeAddress = bridgeAddress
        self.configuration = configuration
        let own = BridgeID(priority: configuration.priority, address: bridgeAddress)
        rootPriority = PriorityVector(rootID: own, rootPathCost: 0, designatedBridgeID: own, designatedPortID: 0, bridgePortID: 0)
        rootTimes = configuration.times
    }

    public var bridgeID: BridgeID { BridgeID(priority: configuration.priority, address: bridgeAddress) }
    public var isRoot: Bool { rootPort == nil }
    public var designatedRoot: BridgeID { rootPriority.rootID }

    public func state(of port: Int) -> STPPortState {
        ports[port]?.state ?? .discarding
    }

    // MARK: Configuration and ports

    /// 17.21: a port comes up. Edge ports forward at once; others start discarding. Every port
    /// announces itself at once, so a bridge at the other end is detected within a round trip.
    public mutating func enablePort(
        _ number: Int, pathCost: UInt32, edge: Bool, pointToPoint: Bool, guards: STPPortGuards = STPPortGuards(),
        now: Instant, actions: inout [STPAction]
    ) {
        let placeholder = bridgePriorityVector
        var port = STPPort(
            number: number, portID: 0x8000 | UInt16(number & 0x0FFF), pathCost: pathCost, edge: edge, pointToPoint: pointToPoint,
            guards: guards, placeholder: placeholder)
        port.infoIs = .aged
        port.sendRSTP = configuration.forceProtocolVersion >= 2
        port.helloWhen = now
        ports[number] = port
        reselect = true
        update(now: now, actions: &actions)
    }

    /// The port went down (client left, peer link closed or declared dead): roles are
    /// recomputed at once, so an alternate port takes over without waiting for any timer.
    public mutating func disablePort(_ number: Int, now: Instant, actions: inout [STPAction]) {
        guard let port = ports.removeValue(forKey: number) else { return }
        if port.state != .discarding { actions.append(.stateChanged(port: number, .discarding)) }
        reselect = true
        update(now: now, actions: &actions)
    }

    public mutating func setPathCost(_ cost: UInt32, port number: Int, now: Instant, actions: inout [STPAction]) {
        guard ports[number] != nil else { return }
        ports[number]!.pathCost = max(1, cost)
        reselect = true
        update(now: now, actions: &actions)
    }

    public mutating func setAdminEdge(_ edge: Bool, port number: Int, now: Instant, actions: inout [STPAction]) {
        guard ports[number] != nil else { return }
        ports[number]!.adminEdge = edge
        ports[number]!.operEdge = edge
        update(now: now, actions: &actions)
    }

    /// Root guard taking effect or ending re-runs role selection at once.
    public mutating func setGuards(_ guards: STPPortGuards, port number: Int, now: Instant, actions: inout [STPAction]) {
        guard ports[number] != nil else { return }
        ports[number]!.guards = guards
        reselect = true
        update(now: now, actions: &actions)
    }

    public mutating func setTopologyChangeInterval(_ interval: Duration) {
        configuration.topologyChangeInterval = interval
    }

    public mutating func setPriority(_ priority: UInt16, now: Instant, actions: inout [STPAction]) {
        configuration.priority = priority & 0xF000
        for number in ports.keys where ports[number]!.infoIs == .mine { ports[number]!.infoIs = .aged }
        reselect = true
        update(now: now, actions: &actions)
    }

    // MARK: Receiving (17.21.8 rcvInfo, 17.27 Port Information machine)

    public mutating func receive(_ bpdu: BPDU, on number: Int, now: Instant, actions: inout [STPAction]) {
        guard var port = ports[number] else { return }
        if port.guards.bpduFilter {
            ports[number]!.bpdusFiltered &+= 1
            return
        }
        port.bpdusReceived &+= 1
        if port.guards.bpduGuard {
            // Taken out of the tree here, and down by the switch's owner on the notice.
            guard port.infoIs != .disabled else {
                ports[number] = port
                return
            }
            port.infoIs = .disabled
            port.rcvdInfoWhile = nil
            ports[number] = port
            actions.append(.notice(.bpduGuardTripped(port: number)))
            reselect = true
            update(now: now, actions: &actions)
            return
        }
        // 17.25 Bridge Detection: a BPDU means a bridge is there, so the port is no edge.
        port.operEdge = false
        // 17.24 Port Protocol Migration.
        switch bpdu {
        case .configuration, .topologyChangeNotification:
            if port.sendRSTP, configuration.forceProtocolVersion >= 2 {
                port.sendRSTP = false
                port.mdelayWhile = now + configuration.migrateTime
            }
        case .rapid:
            if !port.sendRSTP, configuration.forceProtocolVersion >= 2, port.mdelayWhile.map({ now >= $0 }) ?? true {
                port.sendRSTP = true
                port.mdelayWhile = now + configuration.migrateTime
            }
        }
        ports[number] = port

        switch bpdu {
        case .topologyChangeNotification:
            // 17.29 NOTIFIED_TCN: only a designated port that takes part in the active
            // topology acknowledges (legacy) and propagates.
            if port.role == .designated, port.state != .discarding {
                ports[number]!.tcAck = true
                ports[number]!.newInfo = true
                if acceptTopologyChange(on: number, now: now) {
                    propagateTopologyChange(from: number, now: now, actions: &actions)
                }
            }
        case .configuration(let info):
            receiveInfo(info, role: .designated, on: number, now: now, actions: &actions)
            if info.flags.contains(.topologyChangeAcknowledgment), number == rootPort {
                ports[number]!.tcWhile = nil  // our TCNs were heard (legacy root port)
            }
        case .rapid(let info, _):
            receiveInfo(info, role: info.role, on: number, now: now, actions: &actions)
        }
        update(now: now, actions: &actions)
    }

    private mutating func receiveInfo(_ info: BPDUInfo, role: BPDUPortRole, on number: Int, now: Instant, actions: inout [STPAction]) {
        guard var port = ports[number] else { return }
        let message = PriorityVector(
            rootID: info.rootID, rootPathCost: info.rootPathCost, designatedBridgeID: info.bridgeID,
            designatedPortID: info.portID, bridgePortID: port.portID)
        let times = STPTimes(messageAge: info.messageAge, maxAge: info.maxAge, helloTime: info.helloTime, forwardDelay: info.forwardDelay)
        switch role {
        case .designated:
            if let lost = lostRoot, now < lost.until, message.rootID == lost.id, port.infoIs != .received || message.messageVector < port.portPriority.messageVector {
                // News of the root we just lost may have been sent before its sender knew;
                // it is heard again, fresh, when the hold ends (see forgetPossiblyStaleInformation).
                ports[number] = port
                return
            }
            if message.isSuperior(to: port.portPriority) && (message != port.portPriority || times != port.portTimes || port.infoIs != .received) {
                // 17.27 SUPERIOR_DESIGNATED
                port.agreed = false
                port.proposing = false
                port.portPriority = message
                port.portTimes = times
                port.infoIs = .received
                reselect = true
            } else if message == port.portPriority, port.infoIs == .received {
                // REPEATED_DESIGNATED: just refresh.
            } else {
                // INFERIOR_DESIGNATED: the sender will learn better from us.
                port.newInfo = port.role == .designated
                ports[number] = port
                return
            }
            // 17.21.23 updtRcvdInfoWhile: 3 × hello unless the message is about to age out.
            // In Int: a hostile message age near 0xFFFF must not overflow (fuzzing found it).
            let remaining = Int(times.maxAge.rawValue) > Int(times.messageAge.rawValue) + 256
            port.rcvdInfoWhile = remaining ? now + times.helloTime.duration * 3 : now
            // 17.21.12 recordProposal
            if info.flags.contains(.proposal), port.sendRSTP { port.proposed = true }
        case .root, .alternateOrBackup:
            // 17.21.9 recordAgreement: the other end accepted our designated info.
            if info.flags.contains(.agreement), port.usesRapidHandshake, port.role == .designated {
                port.agreed = true
                port.proposing = false
            }
        case .unknown:
            break
        }
        ports[number] = port
        // 17.29 NOTIFIED_TC: a topology change counts only when it arrives on a root or
        // designated port in the active topology; an alternate or backup port ignores it (else
        // a blocked port would feed the change back round the loop for ever).
        let partOfActiveTopology = (port.role == .root || port.role == .designated) && port.state != .discarding
        if info.flags.contains(.topologyChange), partOfActiveTopology, acceptTopologyChange(on: number, now: now) {
            propagateTopologyChange(from: number, now: now, actions: &actions)
        }
    }

    /// A topology change heard on a port is acted on unless the port's topology-change guard is
    /// on, or it comes within `topologyChangeInterval` of the last one acted on there. RSTP
    /// repeats a change in every BPDU for a few seconds, so this loses nothing but a flood.
    private mutating func acceptTopologyChange(on number: Int, now: Instant) -> Bool {
        let port = ports[number]!
        let tooSoon = port.lastAcceptedTopologyChange.map { now - $0 < configuration.topologyChangeInterval } ?? false
        if !port.guards.topologyChangeGuard, !tooSoon {
            ports[number]!.lastAcceptedTopologyChange = now
            return true
        }
        ports[number]!.topologyChangesIgnored &+= 1
        ports[number]!.unreportedIgnoredChanges &+= 1
        return false
    }

    // MARK: Time

    public mutating func tick(now: Instant, actions: inout [STPAction]) {
        for number in ports.keys.sorted() {
            var port = ports[number]!
            if port.infoIs == .received, let deadline = port.rcvdInfoWhile, now >= deadline {
                // 17.27 AGED: the designated bridge on this segment went silent.
                port.infoIs = .aged
                port.rcvdInfoWhile = nil
                // The legacy bridge is gone: try RSTP again (17.24 mcheck).
                if !port.sendRSTP, configuration.forceProtocolVersion >= 2 { port.sendRSTP = true }
                // Stations learned behind a silent neighbour are most likely gone with it, or
                // reached another way now: they are learned again wherever they speak next.
                if !port.operEdge { actions.append(.flush(port: number)) }
                reselect = true
            }
            if port.unreportedIgnoredChanges > 0, port.lastIgnoredReport.map({ now - $0 >= .seconds(10) }) ?? true {
                actions.append(.notice(.topologyChangesIgnored(port: number, count: port.unreportedIgnoredChanges)))
                port.unreportedIgnoredChanges = 0
                port.lastIgnoredReport = now
            }
            if let deadline = port.tcWhile, now >= deadline { port.tcWhile = nil }
            if let lost = lostRoot, now >= lost.until, port.role == .designated {
                port.newInfo = true  // announce again: neighbours with a live path answer now
            }
            if now - port.transmitWindowStart >= .seconds(1) {
                port.transmitWindowStart = now
                port.transmittedInWindow = 0
            }
            ports[number] = port
        }
        if let lost = lostRoot, now >= lost.until { lostRoot = nil }
        update(now: now, actions: &actions)
    }

    /// When news of a lost root is heard again (see forgetPossiblyStaleInformation): the loop
    /// ticks then, so that failover does not wait for the next periodic tick.
    public var staleInformationHoldEnds: Instant? { lostRoot?.until }

    // MARK: The machines

    private var bridgePriorityVector: PriorityVector {
        PriorityVector(rootID: bridgeID, rootPathCost: 0, designatedBridgeID: bridgeID, designatedPortID: 0, bridgePortID: 0)
    }

    private mutating func update(now: Instant, actions: inout [STPAction]) {
        currentTime = now
        // Role selection, then transitions until nothing changes (bounded: each pass only
        // moves ports forward through their machines).
        var settled = false
        for _ in 0..<fixPointPassLimit {
            if reselect {
                reselect = false
                updtRolesTree(actions: &actions)
            }
            var changed = false
            for number in ports.keys.sorted() {
                changed = portRoleTransition(number, now: now, actions: &actions) || changed
            }
            if !changed && !reselect {
                settled = true
                break
            }
        }
        if !settled {
            // The state is still consistent (the next event or tick continues from it), but
            // the bound was meant never to bind: say so instead of stopping silently.
            fixPointCapHits &+= 1
            if fixPointCapHits & (fixPointCapHits - 1) == 0 { actions.append(.notice(.fixPointCapReached(count: fixPointCapHits))) }
        }
        transmit(now: now, actions: &actions)
    }

    /// 17.21.25 updtRolesTree: the best of our own vector and every root path vector wins;
    /// each port's role follows from comparing its designated vector with what it received.
    private mutating func updtRolesTree(actions: inout [STPAction]) {
        forgetPossiblyStaleInformation()
        var best = bridgePriorityVector
        var bestTimes = configuration.times
        var newRootPort: Int?
        for number in ports.keys.sorted() {
            let port = ports[number]!
            // Root guard (802.1Q 13.27.64 restrictedRole): never the root port.
            guard let candidate = rootPathVector(port), !port.guards.rootGuard else { continue }
            if candidate < best {
                best = candidate
                bestTimes = port.portTimes
                newRootPort = number
            }
        }
        if newRootPort != nil {
            // Saturating: a wrapped age would pass very old information on as fresh.
            let (aged, overflowed) = bestTimes.messageAge.rawValue.addingReportingOverflow(256)
            bestTimes.messageAge = BPDUTime(rawValue: overflowed ? .max : aged)
        }
        rootPriority = best
        rootTimes = bestTimes
        rootPort = newRootPort

        for number in ports.keys.sorted() {
            var port = ports[number]!
            port.designatedPriority = PriorityVector(
                rootID: best.rootID, rootPathCost: best.rootPathCost, designatedBridgeID: bridgeID,
                designatedPortID: port.portID, bridgePortID: port.portID)
            port.designatedTimes = bestTimes
            let newRole: STPPortRole
            switch port.infoIs {
            case .disabled:
                newRole = .disabled
            case .aged, .mine:
                newRole = .designated
                updtInfo(&port)
            case .received:
                if number == newRootPort {
                    newRole = .root
                } else if port.designatedPriority.messageVector < port.portPriority.messageVector {
                    newRole = .designated
                    updtInfo(&port)
                } else if port.portPriority.designatedBridgeID.address == bridgeAddress {
                    newRole = .backup
                } else {
                    newRole = .alternate
                }
            }
            // Information better than our root path, heard where root guard forbids using it:
            // the comparison above made the port alternate (discarding); say why.
            let inconsistent = port.guards.rootGuard && rootPathVector(port).map { $0 < best } ?? false
            if inconsistent != port.isRootInconsistent {
                port.isRootInconsistent = inconsistent
                actions.append(.notice(inconsistent ? .rootInconsistent(port: number, root: port.portPriority.rootID) : .rootConsistent(port: number)))
            }
            if newRole != port.role {
                // A port that was root and is now designated must not forward until it has
                // been agreed again (17.29 reRoot / rrWhile).
                if port.role == .root, newRole == .designated, !port.operEdge {
                    port.sync = true
                    port.agreed = false
                }
                port.role = newRole
                port.newInfo = true
            }
            ports[number] = port
        }
    }

    /// 17.21.25: the root path priority vector through a port, if it heard another bridge.
    private func rootPathVector(_ port: STPPort) -> PriorityVector? {
        guard port.infoIs == .received, port.portPriority.designatedBridgeID.address != bridgeAddress else { return nil }
        var vector = port.portPriority
        vector.rootPathCost &+= port.pathCost
        vector.bridgePortID = port.portID
        return vector
    }

    /// When our root port is gone or now brings worse information, whatever the other ports
    /// heard may be stale in the same way: their senders can have lost the same root a moment
    /// ago, and BPDUs sent before they knew may still be in flight. Adopting such information
    /// is how RSTP counts to infinity around a loop when a root bridge dies. So it is aged at
    /// once, news of the lost root is ignored for `staleInformationHold`, and then the ports
    /// announce what we know: every neighbour with a live path to that root answers within a
    /// round trip (an inferior designated BPDU is always answered). Extension beyond clause 17;
    /// it adds the hold to failover time.
    private mutating func forgetPossiblyStaleInformation() {
        guard let previous = rootPort else { return }
        let rootPortInfo = ports[previous].flatMap { port -> PriorityVector? in
            guard port.infoIs == .received else { return nil }
            var vector = port.portPriority
            vector.rootPathCost &+= port.pathCost
            return vector
        }
        if let rootPortInfo, rootPortInfo.messageVector <= rootPriority.messageVector { return }
        lostRoot = (rootPriority.rootID, currentTime + configuration.staleInformationHold)
        for number in ports.keys where number != previous && ports[number]!.infoIs == .received {
            ports[number]!.infoIs = .aged
            ports[number]!.rcvdInfoWhile = nil
        }
    }

    /// 17.27 UPDATE: the port now carries our designated information.
    private func updtInfo(_ port: inout STPPort) {
        if port.infoIs != .mine || port.portPriority != port.designatedPriority || port.portTimes != port.designatedTimes {
            // Worse information than what the other end agreed to voids the agreement.
            port.agreed = port.agreed && port.designatedPriority.messageVector <= port.portPriority.messageVector
            port.synced = port.synced && port.agreed
            port.proposing = false
            port.newInfo = true
        }
        port.portPriority = port.designatedPriority
        port.portTimes = port.designatedTimes
        port.infoIs = .mine
        port.rcvdInfoWhile = nil
    }

    /// 17.29 Port Role Transitions for one port; true if anything changed.
    private mutating func portRoleTransition(_ number: Int, now: Instant, actions: inout [STPAction]) -> Bool {
        guard var port = ports[number] else { return false }
        let before = (port.state, port.sync, port.synced, port.agree, port.proposing, port.proposed)
        switch port.role {
        case .disabled, .alternate, .backup:
            makeDiscarding(&port, actions: &actions)
            port.fdWhile = nil
            port.synced = true
            port.sync = false
            if port.proposed {
                // ALTERNATE_PROPOSED: a discarding port may agree at once.
                port.proposed = false
                port.agree = true
                port.newInfo = true
            }
        case .root:
            port.fdWhile = nil
            if port.proposed, !port.agree {
                setSyncTree(except: number)
                port.proposed = false
            }
            if (allSynced(except: number) && !port.agree) || (port.proposed && port.agree) {
                port.proposed = false
                port.sync = false
                port.agree = true
                port.newInfo = true
            }
            // 17.29.2: a rapid bridge's root port forwards at once (its old root port, if
            // any, was taken out of forwarding above, in the same step).
            if port.state != .forwarding {
                makeForwarding(&port, now: now, actions: &actions)
            }
            port.synced = true
        case .designated:
            if port.sync, !port.synced {
                if !port.operEdge, !port.agreed, port.state != .discarding {
                    makeDiscarding(&port, actions: &actions)
                    port.fdWhile = nil
                }
                port.synced = port.state == .discarding || port.agreed || port.operEdge
                if port.synced { port.sync = false }
            }
            if port.state != .forwarding {
                if port.operEdge || port.agreed {
                    makeForwarding(&port, now: now, actions: &actions)
                } else {
                    if !port.proposing, port.usesRapidHandshake {
                        port.proposing = true
                        port.newInfo = true
                    }
                    // Legacy neighbours (or a shared segment): forward delay twice.
                    let forwardDelay = rootTimes.forwardDelay.duration
                    if port.fdWhile == nil { port.fdWhile = now + forwardDelay }
                    if let deadline = port.fdWhile, now >= deadline {
                        if port.state == .discarding {
                            port.state = .learning
                            actions.append(.stateChanged(port: number, .learning))
                            port.fdWhile = now + forwardDelay
                        } else {
                            makeForwarding(&port, now: now, actions: &actions)
                        }
                    }
                }
            }
            if port.state == .forwarding || port.operEdge || port.agreed { port.synced = true }
            if port.state == .discarding, port.sync { port.synced = true; port.sync = false }
        }
        ports[number] = port
        let after = (port.state, port.sync, port.synced, port.agree, port.proposing, port.proposed)
        return before != after
    }

    private mutating func setSyncTree(except root: Int) {
        for number in ports.keys where number != root {
            ports[number]!.sync = true
            ports[number]!.synced = false
        }
    }

    private func allSynced(except root: Int) -> Bool {
        ports.allSatisfy { $0.key == root || $0.value.synced }
    }

    private func makeDiscarding(_ port: inout STPPort, actions: inout [STPAction]) {
        guard port.state != .discarding else { return }
        port.state = .discarding
        actions.append(.stateChanged(port: port.number, .discarding))
        // 17.31 TC machine INACTIVE (fdbFlush): stations behind a port that left the active
        // topology are reached another way now.
        if !port.operEdge { actions.append(.flush(port: port.number)) }
    }

    private mutating func makeForwarding(_ port: inout STPPort, now: Instant, actions: inout [STPAction]) {
        guard port.state != .forwarding else { return }
        port.state = .forwarding
        port.fdWhile = nil
        port.proposing = false
        actions.append(.stateChanged(port: port.number, .forwarding))
        // 17.29 TCM DETECTED: a non-edge port starting to forward changes the topology.
        if !port.operEdge {
            ports[port.number] = port
            detectTopologyChange(at: port.number, now: now, actions: &actions)
            port = ports[port.number]!
        }
    }

    /// 17.29: a topology change seen here: tell everyone else, and forget stations learned on
    /// every other non-edge port.
    private mutating func detectTopologyChange(at number: Int, now: Instant, actions: inout [STPAction]) {
        topologyChangeCount &+= 1
        lastTopologyChange = now
        ports[number]!.tcWhile = now + tcWhileDuration(for: ports[number]!)
        ports[number]!.newInfo = true
        propagateTopologyChange(from: number, now: now, actions: &actions, counted: false)
    }

    /// 17.29 NOTIFIED_TC / PROPAGATING.
    private mutating func propagateTopologyChange(from origin: Int, now: Instant, actions: inout [STPAction], counted: Bool = true) {
        if counted {
            topologyChangeCount &+= 1
            lastTopologyChange = now
        }
        for number in ports.keys.sorted() where number != origin && !ports[number]!.operEdge {
            actions.append(.flush(port: number))
            if ports[number]!.role == .root || ports[number]!.role == .designated {
                ports[number]!.tcWhile = now + tcWhileDuration(for: ports[number]!)
                ports[number]!.newInfo = true
            }
        }
    }

    /// 17.21.7 newTcWhile: hello + 1 s for RSTP, max age + forward delay toward a legacy bridge.
    private func tcWhileDuration(for port: STPPort) -> Duration {
        port.sendRSTP
            ? rootTimes.helloTime.duration + .seconds(1)
            : rootTimes.maxAge.duration + rootTimes.forwardDelay.duration
    }

    // MARK: Transmitting (17.26 Port Transmit machine)

    private mutating func transmit(now: Instant, actions: inout [STPAction]) {
        let hello = configuration.times.helloTime.duration
        for number in ports.keys.sorted() {
            var port = ports[number]!
            // Edge ports send hellos too: a cable to another bridge is then found from both ends.
            guard port.role != .disabled, !port.guards.bpduFilter else {
                port.newInfo = false
                ports[number] = port
                continue
            }
            if let when = port.helloWhen, now >= when {
                port.helloWhen = now + hello
                if port.role == .designated || (port.role == .root && port.tcWhile != nil) { port.newInfo = true }
            }
            // Worse news than we last announced goes out even past the hold count: a
            // neighbour still holding our old, better information is how loops start.
            let badNews = port.lastAnnounced.map { port.designatedPriority.messageVector > $0.messageVector } ?? false
            guard port.newInfo, port.transmittedInWindow < configuration.transmitHoldCount || badNews else {
                ports[number] = port
                continue
            }
            port.lastAnnounced = port.designatedPriority
            if let bpdu = makeBPDU(for: &port) {
                actions.append(.transmit(port: number, bpdu))
                port.bpdusSent &+= 1
                port.transmittedInWindow += 1
            }
            port.newInfo = false
            ports[number] = port
        }
    }

    /// 17.21.19 txConfig, 17.21.20 txRstp, 17.21.21 txTcn.
    private func makeBPDU(for port: inout STPPort) -> BPDU? {
        var info = BPDUInfo(
            flags: [], rootID: port.designatedPriority.rootID, rootPathCost: port.designatedPriority.rootPathCost,
            bridgeID: port.designatedPriority.designatedBridgeID, portID: port.designatedPriority.designatedPortID,
            messageAge: port.designatedTimes.messageAge, maxAge: port.designatedTimes.maxAge,
            helloTime: configuration.times.helloTime, forwardDelay: port.designatedTimes.forwardDelay)
        if port.tcWhile != nil { info.flags.insert(.topologyChange) }
        guard port.sendRSTP else {
            // Legacy: designated ports send configuration BPDUs; a root port only TCNs.
            switch port.role {
            case .designated:
                if port.tcAck {
                    info.flags.insert(.topologyChangeAcknowledgment)
                    port.tcAck = false
                }
                return .configuration(info)
            case .root:
                return port.tcWhile != nil ? .topologyChangeNotification : nil
            case .alternate, .backup, .disabled:
                return nil
            }
        }
        switch port.role {
        case .root: info.setRole(.root)
        case .designated: info.setRole(.designated)
        case .alternate, .backup: info.setRole(.alternateOrBackup)
        case .disabled: return nil
        }
        if port.proposing, port.role == .designated { info.flags.insert(.proposal) }
        if port.state.learns { info.flags.insert(.learning) }
        if port.state.forwards { info.flags.insert(.forwarding) }
        if port.agree {
            info.flags.insert(.agreement)
            port.agree = port.role == .root  // an alternate's agreement is a one-shot answer
        }
        return .rapid(info, version: 2)
    }
}
