import EthernetSwitch
import F2FBase
import F2FCore
import F2FPortMapping
import F2FSecure
import F2FTransportTCP
import F2FTransportUDP
import F2FPosix
import Logging
import SwitchRuntime
import VDEServer

/// Wires the pieces together: loop, engine, VDE server, console, plugs, signals.
public final class SwitchApplication {
    private let settings: SwitchNodeSettings
    private let logger: Logger
    private let loop: EpollEventLoop
    private let engine: SwitchEngine
    private let server: VDEServer
    private var consoleServer: ConsoleServer?
    private let bridgeAddress: MACAddress
    private let node: F2FNode
    private let dialer: PeerDialer
    private let peerPorts: PeerPorts
    private let peerVLANLists: PeerVLANLists
    private var listener: TCPListener?
    /// `--stream` listeners and `--dgram` ports (QEMU without VDE).
    private var streamServers: [StreamServer] = []
    private var datagramPorts: [DatagramPort] = []
    /// Nil with `--plaintext`.
    private let friendLinks: FriendLinks?
    /// Frames over UDP on friend links; nil with `--no-udp` or `--plaintext`.
    private let udp: UDPTransport?
    /// Shortest paths across friend links (docs/mesh-routing.md); nil with `--no-mesh-routing`.
    private let mesh: MeshRouter?
    /// Links that start over UDP and introductions through mutual friends (NAT traversal);
    /// nil without `udp`.
    private let directLinks: DirectLinks?
    private let introductions: FriendIntroductions?
    /// `--map-port`: our ports forwarded on the home router (NAT-PMP, UPnP-IGD).
    private var portMapper: PortMapper?
    /// The spanning tree `stp/enable 1` starts from.
    private let spanningTreeSettings: SpanningTree
    /// The rcfile's `shutdown`: the switch stops once set up.
    private var stopRequested = false
    /// `--metrics`: Prometheus text on `GET /metrics`.
    private var metricsServer: MetricsServer?
    /// The `capture` socket in the socket directory (`f2f-switch capture`).
    private var captureServer: CaptureServer?
    /// Seconds since the epoch when the switch was made (`process_start_time_seconds`).
    private let startTime: Double

    public init(settings: SwitchNodeSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        let wall = WallClock.now()
        startTime = Double(wall.seconds) + Double(wall.nanoseconds) / 1e9
        loop = try EpollEventLoop()
        loop.moderationInterval = .microseconds(Int64(settings.moderation))
        let directory = switch settings.socketDirectoryLocation {
        case .path(let path): SocketDirectory(path: path, permissions: settings.permissions)
        case .privateTemporary(let prefix): try SocketDirectory.makePrivateTemporary(prefix: prefix, permissions: settings.permissions)
        }
        let bridgeAddress = settings.macAddress ?? Self.derivedAddress(from: directory.path)
        var treeConfiguration = SpanningTreeConfiguration()
        treeConfiguration.priority = UInt16(settings.priority)
        let tree = SpanningTree(bridgeAddress: bridgeAddress, configuration: treeConfiguration)
        engine = SwitchEngine(
            configuration: settings.switchConfiguration, spanningTree: settings.noSpanningTree ? nil : tree,
            loop: loop, logger: Logger(label: "f2f.switch"), burstQueueCapacity: settings.portQueue)
        engine.stallTimeout = .seconds(settings.stallTimeout)
        self.bridgeAddress = bridgeAddress
        spanningTreeSettings = tree
        server = VDEServer(directory: directory, engine: engine, logger: Logger(label: "f2f.vde"))
        server.dataSocketBufferBytes = settings.socketBuffer
        var nodeConfiguration = F2FNode.Configuration()
        nodeConfiguration.livenessInterval = .seconds(settings.liveness)
        nodeConfiguration.keepaliveInterval = nodeConfiguration.livenessInterval / 6
        nodeConfiguration.handshakeTimeout = .seconds(settings.handshakeTimeout)
        let loop = loop
        let identity: IdentityKey?
        do {
            identity = settings.plaintext ? nil : try Self.loadIdentity(settings: settings, logger: logger)
        } catch {
            directory.close()  // a private temporary directory made above
            throw error
        }
        // A friend's node id is fixed by its key, so its hello cannot claim another's.
        let nodeID = identity?.id.nodeID ?? UInt64.random(in: 1...UInt64.max)
        node = F2FNode(
            nodeID: nodeID, name: settings.nodeName ?? ProcessEnvironment.hostName ?? "f2f-switch",
            configuration: nodeConfiguration, logger: Logger(label: "f2f.core")
        ) { loop.now }
        peerPorts = PeerPorts(engine: engine, node: node)
        server.clientGuards.rootGuard = !settings.clientRoot
        peerPorts.guardsForPeer = Self.peerGuards(settings: settings)
        let peerVLANLists = PeerVLANLists(settings.peerVLANs)
        self.peerVLANLists = peerVLANLists
        peerPorts.vlansForPeer = { peer in peerVLANLists.list(for: peer) }
        peerPorts.maximumPorts = settings.peerPortLimit
        dialer = PeerDialer(node: node, loop: loop, logger: Logger(label: "f2f.tcp"))
        let node = node
        do {
            friendLinks = try identity.map { identity throws(IdentityStore.Failure) in
                try Self.makeFriendLinks(identity: identity, settings: settings, node: node, loop: loop, logger: logger)
            }
        } catch {
            directory.close()  // a private temporary directory made above
            throw error
        }
        if let friendLinks {
            friendLinks.carriesDatagrams = !settings.noUDP
            dialer.secure = { connection, entry in
                friendLinks.forCore(friendLinks.secureOutbound(connection, pinned: entry.pinnedID.flatMap(PeerID.init(parsing:))))
            }
        }
        let udp = friendLinks != nil && !settings.noUDP ? UDPTransport(node: node, loop: loop, logger: Logger(label: "f2f.udp")) : nil
        self.udp = udp
        if settings.noMeshRouting {
            mesh = nil
        } else {
            let mesh = MeshRouter(engine: engine, node: node, peerPorts: peerPorts, logger: Logger(label: "f2f.mesh"))
            // Costs follow what the UDP path measures (RTT from its probes, loss of probes),
            // whether the link was keyed over TCP (its datagram link) or started over UDP.
            mesh.linkMeasurement = { [loop] peer in
                let monitor = (peer.connection as? DatagramConnection)?.monitor ?? udp?.link(for: peer)?.monitor
                guard let monitor else { return (nil, nil) }
                return (monitor.rtt.smoothed, monitor.lossRate(now: loop.now))
            }
            self.mesh = mesh
        }
        if let udp, let friendLinks {
            let direct = DirectLinks(
                transport: udp, node: node, loop: loop, identity: friendLinks.identity, networkKey: friendLinks.networkKey,
                friends: friendLinks.friends,
                limits: DatagramResponder.Limits(
                    handshakeRate: settings.handshakeRate, handshakeBurst: max(1, Int(settings.handshakeRate)),
                    handshakeRatePerSource: settings.handshakeRatePerSource, handshakeBurstPerSource: max(1, Int(2 * settings.handshakeRatePerSource))),
                authorize: { [weak friendLinks] id in
                    guard let friendLinks else { return "switch shutting down" }
                    return friendLinks.refusalForDirectLink(id)
                },
                logger: Logger(label: "f2f.udp"))
            let introductions = FriendIntroductions(
                transport: udp, direct: direct, node: node, loop: loop, ownID: friendLinks.identity.id, friends: friendLinks.friends)
            direct.introductions = introductions
            directLinks = direct
            self.introductions = introductions
        } else {
            directLinks = nil
            introductions = nil
        }
    }

    /// Root guard on the links of friends who may not lead to the root. By default none: a mesh
    /// of switches started with defaults must form one tree, and root guard on every link
    /// would split it into one tree per switch.
    private static func peerGuards(settings: SwitchNodeSettings) -> (Peer) -> STPPortGuards {
        let noRemoteRoot = settings.noRemoteRoot
        let rootFriends = Set(settings.rootFriends)
        return { peer in
            guard noRemoteRoot || !rootFriends.isEmpty else { return STPPortGuards() }
            let id = peer.linkedFriend
            return STPPortGuards(rootGuard: noRemoteRoot || !(id.map(rootFriends.contains) ?? false))
        }
    }

    private static func loadIdentity(settings: SwitchNodeSettings, logger: Logger) throws(IdentityStore.Failure) -> IdentityKey {
        let identityPath = try settings.resolvedIdentityPath()
        let (identity, created) = try IdentityStore.loadOrCreate(at: identityPath)
        if created { logger.info("created identity", metadata: ["path": "\(identityPath)"]) }
        return identity
    }

    private static func makeFriendLinks(
        identity: IdentityKey, settings: SwitchNodeSettings, node: F2FNode, loop: any EventLoop, logger: Logger
    ) throws(IdentityStore.Failure) -> FriendLinks {
        let identityPath = try settings.resolvedIdentityPath()
        let friends = try settings.configuredFriends(identityPath: identityPath)
        let handshakeTimeout = Duration.seconds(settings.handshakeTimeout)
        let limits = FriendLinks.Limits(
            maxPeers: settings.maxPeers,
            pool: .init(
                capacity: settings.maxPending, perSource: settings.maxPendingPerSource, reserved: settings.reservedPending,
                firstMessageTimeout: min(.seconds(settings.firstMessageTimeout), handshakeTimeout), handshakeTimeout: handshakeTimeout),
            handshakeRate: settings.handshakeRate, handshakeBurst: max(1, Int(settings.handshakeRate)),
            handshakeRatePerSource: settings.handshakeRatePerSource, handshakeBurstPerSource: max(1, Int(2 * settings.handshakeRatePerSource)))
        let networkKey = try settings.networkKeyPath.map { (path) throws(IdentityStore.Failure) in try NetworkKeyFile.load(path) }
        logger.info("F2F identity", metadata: ["id": "\(identity.id)", "friends": "\(Set(friends).count)", "network-key": "\(networkKey != nil)"])
        let links = FriendLinks(
            identity: identity, friends: FriendList(friends), limits: limits, node: node, loop: loop,
            logger: Logger(label: "f2f.secure"))
        links.networkKey = networkKey
        links.invitations = InvitationDesk(
            ledgerPath: InvitationDesk.ledgerPath(identityPath: identityPath), friendsPath: settings.friendsFilePath(identityPath: identityPath),
            wallClock: WallClock.secondsSinceEpoch, logger: Logger(label: "f2f.secure"))
        for line in settings.peers where line.pinnedID != nil { links.reserve(line.address) }
        return links
    }

    public func start() throws {
        do {
            try startComponents()
        } catch {
            for stream in streamServers { stream.stop() }
            for port in datagramPorts { engine.detach(port: port.port, reason: "start-up failed") }
            consoleServer?.stop()
            metricsServer?.stop()
            captureServer?.stop()
            server.stop()  // removes what it created: ctl, and the directory if it made it
            throw error
        }
    }

    private func startComponents() throws {
        try loop.handleSignals(ProcessEnvironment.stopSignals + [ProcessEnvironment.reloadSignal]) { [unowned self] signal in
            guard signal != ProcessEnvironment.reloadSignal else { return reloadFriends() }
            logger.info("signal \(signal): shutting down")
            loop.stop()
        }
        ProcessEnvironment.ignoreBrokenPipes()
        // The listen port first: if it is taken, nothing has been created yet.
        if let listen = settings.listen {
            let acceptor: any ConnectionAcceptor = friendLinks ?? node
            listener = try TCPListener(address: listen, loop: loop, acceptor: acceptor, logger: Logger(label: "f2f.tcp"))
            logger.info("accepting F2F peers", metadata: ["listen": "\(listen)"])
        }
        if let udp {
            // The --listen port for UDP too, so friends who dial it reach both; without one, an
            // ephemeral port per family, offered to friends over the link.
            try udp.bind(host: settings.listen?.host, port: settings.listen?.port ?? 0)
            try udp.start()
            directLinks?.start()
            introductions?.start()
            logger.info("friend links over UDP", metadata: ["ipv4-port": "\(udp.ports.ipv4)", "ipv6-port": "\(udp.ports.ipv6)"])
        }
        if settings.mapPort { startPortMapping() }
        try server.start()
        try startMetrics()
        let captureLogger = Logger(label: "f2f.capture")
        let captureServer = CaptureServer(engine: engine, logger: captureLogger) { [unowned self] name in peerPort(named: name) }
        let directory = server.directory
        try captureServer.start(
            listening: directory.makeListener(name: CaptureServer.socketName, mode: 0o600, backlog: 8, logger: captureLogger),
            remove: { directory.removeEntry(CaptureServer.socketName) })
        self.captureServer = captureServer
        // One console for the rcfile and the management socket, so both speak the same language.
        if settings.managementPath != nil || settings.rcFile != nil {
            let console = makeConsole()
            // Before the loop runs: no client is served, no peer dialled, until the file is done.
            if let rcFile = settings.rcFile, try RCFile.run(rcFile, on: console) == .shutdown {
                logger.info("rcfile asked for shutdown", metadata: ["rcfile": "\(rcFile)"])
                stopRequested = true
            }
            if let path = settings.managementPath {
                let consoleServer = ConsoleServer(
                    path: path, mode: settings.managementMode, console: console, loop: loop,
                    logger: Logger(label: "f2f.console")
                ) { [unowned self] in loop.stop() }
                consoleServer.maximumSessions = settings.maxConsoleSessions
                try consoleServer.start()
                self.consoleServer = consoleServer
            }
        }
        for url in settings.plugs {
            try addPlug(url)
        }
        try startQEMUPorts()
        for line in settings.peers {
            dialer.add(line.address, pinnedID: line.pinnedID?.description)
        }
        // Liveness is checked every 50 ms: a dead link is noticed within 50 ms of the interval.
        loop.scheduleRepeating(every: .milliseconds(50)) { [unowned self] in node.tick() }
        loop.scheduleRepeating(every: .milliseconds(50)) { [unowned self] in engine.tick() }
        if let friendLinks, let invitations = friendLinks.invitations {
            loop.scheduleRepeating(every: .milliseconds(100)) { [unowned self] in
                invitations.tick(now: loop.now, node: node, friends: friendLinks.friends, dialer: dialer)
            }
        }
        loop.scheduleRepeating(every: .seconds(1)) { [unowned self] in
            listener?.reportSuppressedWarnings()
            consoleServer?.reportSuppressedWarnings()
            server.reportSuppressedWarnings()
            metricsServer?.reportSuppressedWarnings()
            for stream in streamServers { stream.reportSuppressedWarnings() }
            for port in datagramPorts { port.reportSuppressedWarnings() }
        }
        if let pidFile = settings.pidFile {
            do {
                try FileSystem.replaceFile(pidFile, contents: "\(ProcessEnvironment.processID)\n")
            } catch {
                logger.warning("cannot write pid file", metadata: ["error": "\(error)"])
            }
        }
        logger.info("switch ready", metadata: ["dir": "\(server.directory.path)", "ports": "\(settings.numports)", "mac": "\(bridgeAddress)"])
        notifyServiceManager([ServiceNotifier.ready, "STATUS=switch ready on \(server.directory.path)"])
    }

    /// The UDP port friends send datagrams to and the TCP port they dial, forwarded to us by
    /// the home router; the external UDP endpoint goes to friends with our local endpoints, so
    /// a mutual friend's introduction carries it.
    private func startPortMapping() {
        var ports: [(PortMappingProtocol, UInt16)] = []
        if let udp, udp.ports.ipv4 != 0 { ports.append((.udp, udp.ports.ipv4)) }
        if let listen = settings.listen, listener != nil { ports.append((.tcp, listen.port)) }
        guard !ports.isEmpty else {
            return logger.warning("--map-port: nothing to map (no UDP socket and no --listen)")
        }
        let mapper = PortMapper(loop: loop, ports: ports, lifetime: settings.mapPortLifetime, logger: Logger(label: "f2f.portmap"))
        mapper.onExternalEndpointChange = { [weak introductions] endpoint in introductions?.advertisedEndpoint = endpoint }
        portMapper = mapper
        mapper.start()
    }

    /// SIGHUP: the friends file again, with the command line's friends; a file that no
    /// longer parses changes nothing.
    private func reloadFriends() {
        guard let friendLinks else { return logger.info("SIGHUP: no friends to reload (--plaintext)") }
        notifyServiceManager([ServiceNotifier.reloading])
        defer { notifyServiceManager([ServiceNotifier.ready]) }
        do {
            var ids = try settings.configuredFriends(identityPath: try settings.resolvedIdentityPath())
            // Pins made at the console (peer/add ID@…, friend/join) are friends as long as they are dialled.
            ids += dialer.entries.compactMap { $0.pinnedID.flatMap(PeerID.init(parsing:)) }
            let (added, removed) = friendLinks.replaceFriends(with: Set(ids))
            logger.info("SIGHUP: friends reloaded", metadata: ["friends": "\(friendLinks.friends.friends.count)", "added": "\(added)", "removed": "\(removed)"])
        } catch {
            logger.error("SIGHUP: friends not reloaded", metadata: ["error": "\(error)"])
        }
    }

    /// Tells systemd (`Type=notify`) how the switch is doing; nothing outside a service.
    private func notifyServiceManager(_ states: [String]) {
        guard let notifier = ServiceNotifier.fromEnvironment(), let error = notifier.notify(states) else { return }
        logger.warning("cannot notify the service manager", metadata: ["error": "\(error)"])
    }

    private func startMetrics() throws {
        guard let address = settings.metrics else { return }
        let metrics = NodeMetrics(engine: engine, node: node, friendLinks: friendLinks, udp: udp, startTime: startTime)
        let metricsServer = MetricsServer(host: address.host, port: address.port, loop: loop, logger: Logger(label: "f2f.metrics")) {
            metrics.render()
        }
        try metricsServer.start()
        self.metricsServer = metricsServer
        logger.info("serving metrics", metadata: ["metrics": "http://\(address.host ?? "127.0.0.1"):\(address.port)/metrics"])
    }

    /// The port of the established link to the friend called `name` (its hello name), or whose
    /// id is or starts with `name` (at least seven characters).
    private func peerPort(named name: String) -> Int? {
        let peers = node.peers.values.filter { $0.state == .established }.sorted { $0.id < $1.id }
        let match = peers.first { $0.remote?.name == name } ?? peers.first { peer in
            guard name.count >= 7, let id = peer.secureConnection?.remoteID?.description else { return false }
            return id.hasPrefix(name)
        }
        return match?.attachment
    }

    private func makeConsole() -> Console {
        let console = Console(banner: SwitchConsoleCommands.banner())
        PacketCaptureConsoleCommands.register(on: console, engine: engine) { [unowned self] name in peerPort(named: name) }
        PeerConsoleCommands.register(
            on: console, node: node, dialer: dialer, peerPorts: peerPorts, friendLinks: friendLinks, udp: udp, mesh: mesh, vlanLists: peerVLANLists)
        NATConsoleCommands.register(on: console, now: { [loop] in loop.now }, portMapper: { [unowned self] in portMapper })
        if let mesh { MeshConsoleCommands.register(on: console, router: mesh, engine: engine, node: node) }
        LimitsConsoleCommands.register(
            on: console, settings: settings, node: node, engine: engine, friendLinks: friendLinks, udp: udp, peerPorts: peerPorts, server: server,
            accept: { [unowned self] in
                AcceptPauses(listener: listener?.acceptPauses ?? 0, console: self.consoleServer?.acceptPauses ?? 0, control: server.acceptPauses)
            },
            consoleSessions: { [unowned self] in (self.consoleServer?.sessionCount ?? 0, self.consoleServer?.sessionsRefused ?? 0) })
        SpanningTreeConsoleCommands.register(on: console, engine: engine, settings: spanningTreeSettings)
        SwitchConsoleCommands.register(
            on: console,
            context: SwitchConsoleContext(
                engine: engine, controlDirectory: server.directory.path, socketMode: server.directory.permissions.socketMode, bridgeAddress: bridgeAddress,
                managementPath: settings.managementPath, managementMode: settings.managementMode, startedAt: loop.now))
        return console
    }

    /// `--stream` listeners (a port per connection) and `--dgram` sockets (a port each), with
    /// the guards of VDE clients: a guest is a client.
    private func startQEMUPorts() throws {
        let mode = settings.permissions.socketMode
        let group = settings.permissions.groupID
        for text in settings.streams {
            guard let address = StreamServer.Address(parsing: text) else { continue }
            let stream = StreamServer(address: address, socketMode: mode, socketGroup: group, engine: engine, logger: Logger(label: "f2f.stream"))
            stream.guards = server.clientGuards
            streamServers.append(stream)
            try stream.start()
        }
        for path in settings.dgrams {
            let port: Int
            switch engine.allocatePort(requested: nil) {
            case .success(let allocated): port = allocated
            case .failure(let error): throw ServerSocketError.noPort("--dgram \(path): \(error)")
            }
            let datagramPort = try DatagramPort(path: path, mode: mode, group: group, port: port, engine: engine, logger: Logger(label: "f2f.dgram"))
            try datagramPort.activate()
            datagramPorts.append(datagramPort)
            engine.attach(datagramPort, port: port, guards: server.clientGuards)
        }
    }

    private func addPlug(_ url: String) throws {
        let port: Int
        switch engine.allocatePort(requested: nil) {
        case .success(let allocated): port = allocated
        case .failure(let error): throw ServerSocketError.noPort("--plug \(url): \(error)")
        }
        let plug = try PlugPort(url: url, port: port, engine: engine, description: "f2f-switch \(server.directory.path)")
        try plug.activate()
        engine.attach(plug, port: port)
    }

    public func printAttachInstructions() {
        let directory = server.directory.path
        var text = """
            f2f-switch is running; socket directory: \(directory)
              QEMU:     -netdev vde,id=n0,sock=\(directory) -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:01
              vde_plug: vde_plug vde://\(directory) tap://tap0

            """
        if let path = settings.managementPath { text += "  console:  vdeterm \(path)\n" }
        if let friendLinks {
            text += "  F2F id:   \(friendLinks.identity.id.checkedDescription)  (friends admit it with --friend; f2f-switch invite makes a link)\n"
        }
        // Straight to the descriptor: stdout may be a pipe, and this must show up before any log line.
        ProcessEnvironment.writeToStandardOutput(text)
    }

    public func run() {
        if !stopRequested { loop.run() }
        shutdown()
    }

    private func shutdown() {
        notifyServiceManager([ServiceNotifier.stopping])
        listener?.close()
        // Blocks at most a few seconds: the gateway confirms each deletion.
        portMapper?.stop()
        friendLinks?.closeAll()
        for entry in dialer.entries { dialer.remove(id: entry.id) }
        for peer in Array(node.peers.values) { peer.close(reason: "switch shutting down") }
        introductions?.stop()
        directLinks?.stop()
        udp?.stop()
        mesh?.stop()
        engine.detachAll(reason: "switch shutting down")
        // Captures write out what they hold: the last dispatch's flush may not have run.
        for port in 0..<settings.numports { engine.stopCapture(port: port)?.waitUntilWritten() }
        for stream in streamServers { stream.stop() }
        consoleServer?.stop()
        metricsServer?.stop()
        captureServer?.stop()
        server.stop()
        if let pidFile = settings.pidFile { FileSystem.remove(pidFile) }
        node.removeAllComponents()
        loop.releaseAll()
        logger.info("switch stopped")
    }

    /// A locally administered unicast address that stays the same for the same directory.
    private static func derivedAddress(from path: String) -> MACAddress {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in path.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return MACAddress(rawValue: (hash & 0x00FF_FFFF_FFFF) | 0x0200_0000_0000)
    }
}
