import ArgumentParser
import EthernetSwitch
import F2FPosix
import F2FSecure
import F2FSwitchNode
import SwitchRuntime
import F2FTransportTCP
import VDEServer

/// Command-line options, drop-in where vde_switch has the same option.
struct SwitchOptions: ParsableArguments {
    @Option(name: [.short, .customLong("sock")], help: "Socket directory; an existing one must be yours and not writable by others (default: $XDG_RUNTIME_DIR/f2f-switch, /run/user/$UID/f2f-switch, as root /run/f2f-switch, else a new private /tmp/f2f-switch-XXXXXX).")
    var socketDirectory: String?

    @Option(name: [.customShort("M"), .customLong("mgmt")], help: "Management console socket (vdeterm/unixterm); its directory must be yours or root's, sticky if others can write it.")
    var managementPath: String?

    @Option(name: .customLong("mgmtmode"), help: "Octal mode of the management socket.")
    var managementMode = OctalMode(value: SwitchNodeSettings.defaults.managementMode)

    @Option(name: [.short, .customLong("numports")], help: "Number of ports (0 … N-1; port 0 only on request).")
    var numports: Int = SwitchNodeSettings.defaults.numports

    @Option(name: [.short, .customLong("mode")], help: "Octal mode of ctl and data sockets (directory mode derived from it).")
    var mode: OctalMode?

    @Option(name: .customLong("dirmode"), help: "Octal mode of the socket directory.")
    var directoryMode: OctalMode?

    @Option(name: [.short, .customLong("group")], help: "Group owning the directory and sockets.")
    var group: String?

    @Option(name: [.short, .customLong("pidfile")], help: "Write the process id to this file.")
    var pidFile: String?

    @Flag(name: [.short, .customLong("daemon")], help: "Run in the background.")
    var daemon = false

    @Option(name: .customLong("plug"), help: "Add a port cabled to a vdeplug4 URL (repeatable), e.g. vde:///run/other-switch.")
    var plugs: [String] = []

    @Option(name: .customLong("listen"), help: "Accept F2F peers on [HOST:]PORT.")
    var listen: String?

    @Option(name: .customLong("metrics"), help: "Serve Prometheus metrics (GET /metrics) on [HOST:]PORT; loopback when only a port is given (docs/metrics.md).")
    var metrics: String?

    @Option(name: .customLong("peer"), help: "Keep a link to the F2F peer at [ID@]HOST:PORT (repeatable); an ID pins who must answer there and makes it a friend.")
    var peers: [String] = []

    @Option(name: .customLong("friend"), help: "Admit the node with this id (repeatable; see `f2f-switch id`).")
    var friends: [String] = []

    @Option(name: .customLong("friends"), help: "File of friend ids, one per line, # comments (default: 'friends' next to the identity, if it exists).")
    var friendsFile: String?

    @Option(name: .customLong("identity"), help: "This node's private key file, created on first start; must be yours and private (default: $XDG_CONFIG_HOME/f2f-switch/identity or ~/.config/f2f-switch/identity).")
    var identityPath: String?

    @Flag(name: .customLong("plaintext"), help: "Peer links without authentication or encryption: anyone who reaches --listen joins. Benchmarks and closed test networks only.")
    var plaintext = false

    @Flag(name: .customLong("no-udp"), help: "Friend links carry frames over TCP only (by default over UDP on the --listen port, TCP as fallback).")
    var noUDP = false

    @Flag(name: .customLong("no-mesh-routing"), help: "Unicast between friends follows the spanning tree only (by default it takes the cheapest path to the station's node).")
    var noMeshRouting = false

    @Flag(
        name: .customLong("map-port"),
        help: "Ask the home router to forward the UDP port (and the --listen TCP port) here, by NAT-PMP or UPnP-IGD; removed at exit.")
    var mapPort = false

    @Option(name: .customLong("map-port-lifetime"), help: "Seconds each port mapping is asked for (renewed at half; the router may grant another).")
    var mapPortLifetime: UInt32 = SwitchNodeSettings.defaults.mapPortLifetime

    @Option(name: .customLong("max-peers"), help: "Most peer links; connections beyond are closed at once.")
    var maxPeers: Int = SwitchNodeSettings.defaults.maxPeers

    @Option(name: .customLong("max-pending"), help: "Most unauthenticated incoming connections at a time.")
    var maxPending: Int = SwitchNodeSettings.defaults.maxPending

    @Option(name: .customLong("handshake-timeout"), help: "Seconds a peer connection may take to authenticate and say hello.")
    var handshakeTimeout: Double = SwitchNodeSettings.defaults.handshakeTimeout

    // Pre-authentication limits and console sessions (docs/security/pre-authentication.md).
    @Option(name: .customLong("max-pending-per-source"), help: "Most unauthenticated incoming connections from one IPv4 address or IPv6 /64; its oldest makes room for its newest.")
    var maxPendingPerSource: Int = SwitchNodeSettings.defaults.maxPendingPerSource

    @Option(name: .customLong("reserved-pending"), help: "Unauthenticated places kept for connections from the hosts of pinned peers (--peer ID@HOST:PORT), which strangers never take.")
    var reservedPending: Int = SwitchNodeSettings.defaults.reservedPending

    @Option(name: .customLong("first-message-timeout"), help: "Seconds an incoming connection may take to send its first whole Noise handshake message.")
    var firstMessageTimeout: Double = SwitchNodeSettings.defaults.firstMessageTimeout

    @Option(name: .customLong("handshake-rate"), help: "Handshakes per second the switch answers for all strangers together (each costs it Diffie-Hellman work); one second's worth may come at once.")
    var handshakeRate: Double = SwitchNodeSettings.defaults.handshakeRate

    @Option(name: .customLong("handshake-rate-per-source"), help: "Handshakes per second the switch answers for one IPv4 address or IPv6 /64; two seconds' worth may come at once.")
    var handshakeRatePerSource: Double = SwitchNodeSettings.defaults.handshakeRatePerSource

    @Option(name: .customLong("max-console-sessions"), help: "Most management console sessions at a time; more are closed at once.")
    var maxConsoleSessions: Int = SwitchNodeSettings.defaults.maxConsoleSessions

    @Option(name: .customLong("port-macs"), help: "Most MAC addresses one client or --plug port may hold in the table.")
    var clientMACLimit: Int = 1024

    @Option(name: .customLong("peer-macs"), help: "Most MAC addresses one peer link may hold in the table.")
    var peerMACLimit: Int = 4096

    // What all friends together may take, so that local clients always find room
    // (docs/security/clients-and-friends.md).
    @Option(name: .customLong("all-peers-macs"), help: "Most MAC addresses all peer links together may hold in the table (default: half of --hash-size).")
    var peersMACLimit: Int?

    @Option(name: .customLong("client-ports"), help: "Ports kept for local clients and --plug ports: peer links never take them (at most half the ports of a small switch).")
    var clientPorts: Int = SwitchNodeSettings.defaults.clientPorts

    // Storm control (docs/security/stations-and-storms.md).
    @Option(name: .customLong("peer-storm"), help: "Broadcast, multicast and unknown-unicast frames/s each peer link may flood, per class (0 = unlimited); port/setstorm changes one port.")
    var peerStormLimit: UInt32 = StormLimits.peerDefault.broadcast

    @Option(name: .customLong("name"), help: "Name this node shows its peers (default: host name).")
    var nodeName: String?

    @Option(name: .customLong("liveness"), help: "Longest silence a peer link is given before it is declared dead, however slow its path (a fast link: 0.8 s).")
    var liveness: Double = SwitchNodeSettings.defaults.liveness

    @Flag(name: .customLong("no-stp"), help: "Turn the spanning tree off (BPDUs are then flooded like other multicast).")
    var noSpanningTree = false

    @Option(name: .customLong("priority"), help: "Bridge priority for the spanning tree (0…61440, steps of 4096).")
    var priority: Int = SwitchNodeSettings.defaults.priority

    @Option(name: .customLong("peer-cost"), help: "Spanning tree path cost of F2F peer links (1…200000000).")
    var peerCost: UInt32 = 20_000

    @Option(name: .customLong("client-cost"), help: "Spanning tree path cost of client and --plug ports (1…200000000).")
    var clientCost: UInt32 = 20_000

    @Option(name: .customLong("root-friends"), help: "Only these friends (ids, repeatable) may become the spanning tree root through their links: root guard on every other peer link.")
    var rootFriends: [String] = []

    @Option(name: .customLong("peer-vlans"), help: ArgumentHelp("The tagged VLANs a friend's link carries, as peer/setvlans sets them (repeatable): LIST is 10,20,30-40, all (the default) or none (its untagged VLAN only).", valueName: "ID=LIST"))
    var peerVLANs: [String] = []

    @Flag(name: .customLong("no-remote-root"), help: "No friend may become the spanning tree root through its link: root guard on every peer link.")
    var noRemoteRoot = false

    @Flag(name: .customLong("client-root"), help: "Let VDE clients lead to the spanning tree root (a VDE cable to another switch); by default a client port that hears a better root stops forwarding.")
    var clientRoot = false

    @Option(name: .customLong("macaddr"), help: "Switch MAC address (default derived from the socket directory).")
    var macAddress: MACAddressArgument?

    @Option(name: .customLong("hash-size"), help: "Maximum number of MAC table entries.")
    var hashSize: Int = 8192

    @Option(name: .customLong("hash-expire"), help: "MAC table aging time in seconds.")
    var hashExpire: Int = 300

    @Option(name: .customLong("max-frame"), help: "Largest frame forwarded, in bytes; longer frames are dropped.")
    var maxFrame: Int = SwitchConfiguration.defaultMaxFrameSize

    @Option(name: .customLong("port-queue"), help: "Frames a port may hold while its client or peer is busy; meanwhile the senders filling it are paused (0 = no queue and no pausing: drop when busy).")
    var portQueue: Int = SwitchNodeSettings.defaults.portQueue

    @Option(name: .customLong("sndbuf"), help: "Send and receive buffer of each client data socket, in bytes.")
    var socketBuffer: Int32 = SwitchNodeSettings.defaults.socketBuffer

    @Option(name: .customLong("moderation"), help: "Microseconds the switch lets frames gather before its next look under dense traffic (0 = off); light traffic never waits.")
    var moderation: Int = SwitchNodeSettings.defaults.moderation

    @Option(name: .customLong("stall-timeout"), help: "Seconds a client or peer may keep a port backed up (its senders paused) before frames for it are dropped instead.")
    var stallTimeout: Double = SwitchNodeSettings.defaults.stallTimeout

    // A pre-shared key per network (docs/security/console-and-noise.md).
    @Option(name: .customLong("network-key"), help: "Pre-shared key file of this network (`f2f-switch network-key FILE` makes one): peer links then need it on both ends, and a node without it learns nothing, not even this node's id.")
    var networkKeyPath: String?

    // vde_switch's hub mode and start-up file (docs/vde-switch-compatibility.md).
    @Flag(name: [.customShort("x"), .customLong("hub")], help: "Act as a hub, as vde_switch -x: every frame to every port but its own, nothing learned; the spanning tree (unless --no-stp) still cuts loops.")
    var hub = false

    @Option(name: [.customShort("f"), .customLong("rcfile")], help: ArgumentHelp("Console commands to run at start-up, one per line (# comments), before clients are served; a failing line stops the start. Must be yours or root's, writable by nobody else.", valueName: "FILE"))
    var rcFile: String?

    @Flag(name: [.short, .customLong("verbose")], help: "More log output (repeat for trace).")
    var verbosity: Int

    @Flag(name: [.short, .customLong("quiet")], help: "Only warnings and errors.")
    var quiet = false

    // QEMU's stream and dgram netdevs, for QEMU builds without VDE (docs/qemu-stream-dgram.md).
    @Option(name: .customLong("stream"), help: "Accept QEMU stream connections (-netdev stream, -netdev socket,connect=, libvirt type='client'; 4-byte length before each frame) on a unix socket PATH or TCP [HOST:]PORT (loopback unless HOST is given), repeatable; each connection is a port.")
    var streams: [String] = []

    @Option(name: .customLong("dgram"), help: "A port on the unix datagram socket PATH for QEMU's -netdev dgram (remote.path=PATH), repeatable; the switch answers the first sender until its socket goes.")
    var dgrams: [String] = []

    func validateQEMUPorts() throws {
        for stream in streams where StreamServer.Address(parsing: stream) == nil {
            throw ValidationError("--stream: expected a socket path (with a /) or [HOST:]PORT, got '\(stream)'")
        }
        for path in dgrams where !path.contains("/") {
            throw ValidationError("--dgram: expected a socket path (with a /), got '\(path)'")
        }
    }

    func validate() throws {
        try validateQEMUPorts()
        guard (2...86_400).contains(mapPortLifetime) else { throw ValidationError("--map-port-lifetime must be 2…86400 seconds") }
        guard (1...4096).contains(numports) else { throw ValidationError("--numports must be 1…4096") }
        guard hashSize > 0 else { throw ValidationError("--hash-size must be positive") }
        guard hashExpire > 0 else { throw ValidationError("--hash-expire must be positive") }
        guard (64...65535).contains(maxFrame) else { throw ValidationError("--max-frame must be 64…65535") }
        if let listen, TCPAddress(parsing: listen) == nil { throw ValidationError("--listen: expected [HOST:]PORT, got '\(listen)'") }
        if let metrics, TCPAddress(parsing: metrics) == nil { throw ValidationError("--metrics: expected [HOST:]PORT, got '\(metrics)'") }
        for peer in peers where PeerLine(parsing: peer) == nil {
            throw ValidationError("--peer: expected [ID@]HOST:PORT, got '\(peer)'")
        }
        for friend in friends where PeerID(parsing: friend) == nil {
            throw ValidationError("--friend: '\(friend)' is not an id (52 base32 characters, as `f2f-switch id` prints)")
        }
        if plaintext, !friends.isEmpty || friendsFile != nil || peers.contains(where: { $0.contains("@") }) {
            throw ValidationError("--plaintext links are not authenticated: --friend, --friends and ID@ pins need encryption")
        }
        if plaintext, networkKeyPath != nil { throw ValidationError("--network-key needs encrypted links, not --plaintext") }
        guard (1...4096).contains(maxPeers) else { throw ValidationError("--max-peers must be 1…4096") }
        guard (1...4096).contains(maxPending) else { throw ValidationError("--max-pending must be 1…4096") }
        guard handshakeTimeout >= 0.1, handshakeTimeout <= 600 else { throw ValidationError("--handshake-timeout must be 0.1…600 seconds") }
        guard (1...4096).contains(maxPendingPerSource) else { throw ValidationError("--max-pending-per-source must be 1…4096") }
        guard (0...4096).contains(reservedPending) else { throw ValidationError("--reserved-pending must be 0…4096") }
        guard firstMessageTimeout >= 0.1, firstMessageTimeout <= 600 else { throw ValidationError("--first-message-timeout must be 0.1…600 seconds") }
        guard handshakeRate >= 1, handshakeRate <= 100_000 else { throw ValidationError("--handshake-rate must be 1…100000") }
        guard handshakeRatePerSource >= 0.1, handshakeRatePerSource <= 100_000 else { throw ValidationError("--handshake-rate-per-source must be 0.1…100000") }
        guard (1...1024).contains(maxConsoleSessions) else { throw ValidationError("--max-console-sessions must be 1…1024") }
        guard clientMACLimit >= 1, peerMACLimit >= 1 else { throw ValidationError("--port-macs and --peer-macs must be positive") }
        guard peersMACLimit.map({ $0 >= 1 }) ?? true else { throw ValidationError("--all-peers-macs must be positive") }
        guard (0...4096).contains(clientPorts) else { throw ValidationError("--client-ports must be 0…4096") }
        guard (0...61440).contains(priority), priority % 4096 == 0 else { throw ValidationError("--priority must be a multiple of 4096 in 0…61440") }
        guard (0...4096).contains(portQueue) else { throw ValidationError("--port-queue must be 0…4096") }
        guard (4096...(64 << 20)).contains(socketBuffer) else { throw ValidationError("--sndbuf must be 4096…67108864") }
        guard (0...10_000).contains(moderation) else { throw ValidationError("--moderation must be 0…10000 microseconds") }
        guard stallTimeout >= 0.001, stallTimeout <= 60 else { throw ValidationError("--stall-timeout must be 0.001…60 seconds") }
        guard (1...200_000_000).contains(peerCost), (1...200_000_000).contains(clientCost) else {
            throw ValidationError("--peer-cost and --client-cost must be 1…200000000")
        }
        for friend in rootFriends where PeerID(parsing: friend) == nil {
            throw ValidationError("--root-friends: '\(friend)' is not an id (52 base32 characters, as `f2f-switch id` prints)")
        }
        if noRemoteRoot, !rootFriends.isEmpty { throw ValidationError("--no-remote-root and --root-friends exclude each other") }
        if plaintext, !rootFriends.isEmpty { throw ValidationError("--root-friends needs authenticated links (not --plaintext)") }
        for line in peerVLANs {
            if case .failure(let message) = Self.peerVLANs(line) { throw ValidationError("--peer-vlans: \(message)") }
        }
        if plaintext, !peerVLANs.isEmpty { throw ValidationError("--peer-vlans names friends by id: not with --plaintext (peer/setvlans N sets a plaintext link's list)") }
        guard liveness >= 0.2, liveness <= 3600 else { throw ValidationError("--liveness must be 0.2…3600 seconds") }
        if let group, ProcessEnvironment.groupID(named: group) == nil { throw ValidationError("unknown group '\(group)'") }
        if daemon, socketDirectoryLocation == .privateTemporary(prefix: SocketDirectoryLocation.temporaryPrefix) {
            // The random directory's name is printed, but a daemon prints nothing.
            throw ValidationError("--daemon needs -s DIR here: without XDG_RUNTIME_DIR or /run/user/\(ProcessEnvironment.effectiveUserID) the default is a new directory with a random name")
        }
        if let socketDirectory, socketDirectory.utf8.count > 90 {
            throw ValidationError("socket directory path too long for unix sockets (max 90 bytes)")
        }
        if case .path(let directory) = socketDirectoryLocation, let plug = plugs.first(where: { Self.plugDirectory($0) == Self.normalized(directory) }) {
            // libvdeplug's handshake would wait for this very switch, which is not serving yet.
            throw ValidationError("--plug \(plug) is this switch's own directory: cable a switch to itself with `dpipe vde_plug vde://DIR = vde_plug vde://DIR`")
        }
    }

    /// `ID=LIST` of `--peer-vlans`.
    private static func peerVLANs(_ line: String) -> Result<(PeerID, VLANList), ValidationError> {
        let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let id = PeerID(parsing: String(parts[0])) else {
            return .failure(ValidationError("'\(line)' is not ID=LIST (an id as `f2f-switch id` prints it)"))
        }
        do {
            return .success((id, try VLANList(parsing: String(parts[1]))))
        } catch {
            return .failure(ValidationError("'\(line)': LIST is VLANs of 1…4094 such as 10,20,30-40, or all, or none"))
        }
    }

    /// The switch directory a `--plug` URL names (`vde:///dir`, `vde:/dir`, `/dir`), if any.
    private static func plugDirectory(_ url: String) -> String? {
        var path = Substring(url)
        if path.hasPrefix("vde://") {
            path = path.dropFirst(6)
        } else if path.hasPrefix("vde:") {
            path = path.dropFirst(4)
        } else if path.contains(":") {
            return nil
        }
        return normalized(String(path))
    }

    private static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }

    var socketDirectoryLocation: SocketDirectoryLocation {
        if let socketDirectory { return .path(socketDirectory) }
        return SocketDirectoryLocation.choose(
            runtimeDirectory: ProcessEnvironment.variable("XDG_RUNTIME_DIR"),
            effectiveUserID: ProcessEnvironment.effectiveUserID, statusOf: FileStatus.following)
    }

    var permissions: SocketPermissions {
        SocketPermissions(socketMode: mode?.value, directoryMode: directoryMode?.value, groupID: group.flatMap(ProcessEnvironment.groupID(named:)))
    }

    var switchConfiguration: SwitchConfiguration {
        SwitchConfiguration(
            portCount: numports, maxFrameSize: maxFrame, macTableCapacity: hashSize,
            macAgingTime: .seconds(hashExpire), clientPathCost: clientCost, peerPathCost: peerCost,
            clientMACLimit: clientMACLimit, peerMACLimit: peerMACLimit, peersMACLimit: peersMACLimit,
            peerStormLimits: StormLimits(broadcast: peerStormLimit, multicast: peerStormLimit, unknownUnicast: peerStormLimit),
            isHub: hub)
    }

    /// What the options ask for, in the form the node takes (validate() has checked them).
    var settings: SwitchNodeSettings {
        var settings = SwitchNodeSettings()
        settings.socketDirectoryLocation = socketDirectoryLocation
        settings.permissions = permissions
        settings.numports = numports
        settings.socketBuffer = socketBuffer
        settings.clientRoot = clientRoot
        settings.plugs = plugs
        settings.streams = streams
        settings.dgrams = dgrams
        settings.managementPath = managementPath
        settings.managementMode = managementMode.value
        settings.maxConsoleSessions = maxConsoleSessions
        settings.rcFile = rcFile
        settings.pidFile = pidFile
        settings.switchConfiguration = switchConfiguration
        settings.macAddress = macAddress?.address
        settings.noSpanningTree = noSpanningTree
        settings.priority = priority
        settings.portQueue = portQueue
        settings.moderation = moderation
        settings.stallTimeout = stallTimeout
        settings.clientPorts = clientPorts
        settings.nodeName = nodeName
        settings.listen = listen.flatMap(TCPAddress.init(parsing:))
        settings.metrics = metrics.flatMap(TCPAddress.init(parsing:))
        settings.peers = peers.compactMap(PeerLine.init(parsing:))
        settings.friends = friends.compactMap(PeerID.init(parsing:))
        settings.friendsFile = friendsFile
        settings.identityPath = identityPath
        settings.networkKeyPath = networkKeyPath
        settings.plaintext = plaintext
        settings.noUDP = noUDP
        settings.noMeshRouting = noMeshRouting
        settings.mapPort = mapPort
        settings.mapPortLifetime = mapPortLifetime
        settings.liveness = liveness
        settings.rootFriends = rootFriends.compactMap(PeerID.init(parsing:))
        settings.noRemoteRoot = noRemoteRoot
        for line in peerVLANs {
            // Checked in validate(); a later --peer-vlans for the same friend wins.
            if case .success(let (id, list)) = Self.peerVLANs(line) { settings.peerVLANs[id] = list }
        }
        settings.maxPeers = maxPeers
        settings.maxPending = maxPending
        settings.maxPendingPerSource = maxPendingPerSource
        settings.reservedPending = reservedPending
        settings.handshakeTimeout = handshakeTimeout
        settings.firstMessageTimeout = firstMessageTimeout
        settings.handshakeRate = handshakeRate
        settings.handshakeRatePerSource = handshakeRatePerSource
        return settings
    }
}

struct OctalMode: ExpressibleByArgument {
    var value: UInt32

    init(value: UInt32) {
        self.value = value
    }

    init?(argument: String) {
        guard let value = SocketPermissions.parseMode(argument) else { return nil }
        self.value = value
    }

    var defaultValueDescription: String { "0" + String(value, radix: 8) }
}

struct MACAddressArgument: ExpressibleByArgument {
    var address: MACAddress

    init?(argument: String) {
        guard let address = MACAddress(parsing: argument), !address.isMulticast else { return nil }
        self.address = address
    }
}
