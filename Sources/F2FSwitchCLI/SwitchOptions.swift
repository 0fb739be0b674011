import ArgumentParser
import EthernetSwitch
import F2FPosix
import F2FSecure
import F2FTransportTCP
import VDEServer

/// Command-line options, drop-in where vde_switch has the same option.
struct SwitchOptions: ParsableArguments {
    @Option(name: [.short, .customLong("sock")], help: "Socket directory (default: $XDG_RUNTIME_DIR/f2f-switch or /tmp/f2f-switch-$UID).")
    var socketDirectory: String?

    @Option(name: [.customShort("M"), .customLong("mgmt")], help: "Management console socket (vdeterm/unixterm).")
    var managementPath: String?

    @Option(name: .customLong("mgmtmode"), help: "Octal mode of the management socket.")
    var managementMode: OctalMode = OctalMode(value: 0o600)

    @Option(name: [.short, .customLong("numports")], help: "Number of ports (0 … N-1; port 0 only on request).")
    var numports: Int = 32

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

    @Option(name: .customLong("peer"), help: "Keep a link to the F2F peer at [ID@]HOST:PORT (repeatable); an ID pins who must answer there and makes it a friend.")
    var peers: [String] = []

    @Option(name: .customLong("friend"), help: "Admit the node with this id (repeatable; see `f2f-switch id`).")
    var friends: [String] = []

    @Option(name: .customLong("friends"), help: "File of friend ids, one per line, # comments (default: 'friends' next to the identity, if it exists).")
    var friendsFile: String?

    @Option(name: .customLong("identity"), help: "This node's private key file, created on first start (default: $XDG_CONFIG_HOME/f2f-switch/identity).")
    var identityPath: String?

    @Flag(name: .customLong("plaintext"), help: "Peer links without authentication or encryption: anyone who reaches --listen joins. Benchmarks and closed test networks only.")
    var plaintext = false

    @Option(name: .customLong("max-peers"), help: "Most peer links; connections beyond are closed at once.")
    var maxPeers: Int = 64

    @Option(name: .customLong("max-pending"), help: "Most unauthenticated incoming connections at a time.")
    var maxPending: Int = 16

    @Option(name: .customLong("handshake-timeout"), help: "Seconds a peer connection may take to authenticate and say hello.")
    var handshakeTimeout: Double = 5

    @Option(name: .customLong("port-macs"), help: "Most MAC addresses one client or --plug port may hold in the table.")
    var clientMACLimit: Int = 1024

    @Option(name: .customLong("peer-macs"), help: "Most MAC addresses one peer link may hold in the table.")
    var peerMACLimit: Int = 4096

    // Storm control (docs/security/stations-and-storms.md).
    @Option(name: .customLong("peer-storm"), help: "Broadcast, multicast and unknown-unicast frames/s each peer link may flood, per class (0 = unlimited); port/setstorm changes one port.")
    var peerStormLimit: UInt32 = StormLimits.peerDefault.broadcast

    @Option(name: .customLong("name"), help: "Name this node shows its peers (default: host name).")
    var nodeName: String?

    @Option(name: .customLong("liveness"), help: "Seconds without traffic after which a peer link is declared dead.")
    var liveness: Double = 3

    @Flag(name: .customLong("no-stp"), help: "Turn the spanning tree off (BPDUs are then flooded like other multicast).")
    var noSpanningTree = false

    @Option(name: .customLong("priority"), help: "Bridge priority for the spanning tree (0…61440, steps of 4096).")
    var priority: Int = 32768

    @Option(name: .customLong("peer-cost"), help: "Spanning tree path cost of F2F peer links (1…200000000).")
    var peerCost: UInt32 = 20_000

    @Option(name: .customLong("client-cost"), help: "Spanning tree path cost of client and --plug ports (1…200000000).")
    var clientCost: UInt32 = 20_000

    @Option(name: .customLong("macaddr"), help: "Switch MAC address (default derived from the socket directory).")
    var macAddress: MACAddressArgument?

    @Option(name: .customLong("hash-size"), help: "Maximum number of MAC table entries.")
    var hashSize: Int = 8192

    @Option(name: .customLong("hash-expire"), help: "MAC table aging time in seconds.")
    var hashExpire: Int = 300

    @Option(name: .customLong("max-frame"), help: "Largest frame forwarded, in bytes; longer frames are dropped.")
    var maxFrame: Int = SwitchConfiguration.defaultMaxFrameSize

    @Option(name: .customLong("port-queue"), help: "Frames a port may hold while its client or peer is busy; meanwhile the senders filling it are paused (0 = no queue and no pausing: drop when busy).")
    var portQueue: Int = 256

    @Option(name: .customLong("sndbuf"), help: "Send and receive buffer of each client data socket, in bytes.")
    var socketBuffer: Int32 = 256 << 10

    @Option(name: .customLong("moderation"), help: "Microseconds the switch lets frames gather before its next look under dense traffic (0 = off); light traffic never waits.")
    var moderation: Int = 100

    @Option(name: .customLong("stall-timeout"), help: "Seconds a client or peer may keep a port backed up (its senders paused) before frames for it are dropped instead.")
    var stallTimeout: Double = 0.1

    @Flag(name: [.short, .customLong("verbose")], help: "More log output (repeat for trace).")
    var verbosity: Int

    @Flag(name: [.short, .customLong("quiet")], help: "Only warnings and errors.")
    var quiet = false

    func validate() throws {
        guard (1...4096).contains(numports) else { throw ValidationError("--numports must be 1…4096") }
        guard hashSize > 0 else { throw ValidationError("--hash-size must be positive") }
        guard hashExpire > 0 else { throw ValidationError("--hash-expire must be positive") }
        guard (64...65535).contains(maxFrame) else { throw ValidationError("--max-frame must be 64…65535") }
        if let listen, TCPAddress(parsing: listen) == nil { throw ValidationError("--listen: expected [HOST:]PORT, got '\(listen)'") }
        for peer in peers where PeerLine(parsing: peer) == nil {
            throw ValidationError("--peer: expected [ID@]HOST:PORT, got '\(peer)'")
        }
        for friend in friends where PeerID(parsing: friend) == nil {
            throw ValidationError("--friend: '\(friend)' is not an id (52 base32 characters, as `f2f-switch id` prints)")
        }
        if plaintext, !friends.isEmpty || friendsFile != nil || peers.contains(where: { $0.contains("@") }) {
            throw ValidationError("--plaintext links are not authenticated: --friend, --friends and ID@ pins need encryption")
        }
        guard (1...4096).contains(maxPeers) else { throw ValidationError("--max-peers must be 1…4096") }
        guard (1...4096).contains(maxPending) else { throw ValidationError("--max-pending must be 1…4096") }
        guard handshakeTimeout >= 0.1, handshakeTimeout <= 600 else { throw ValidationError("--handshake-timeout must be 0.1…600 seconds") }
        guard clientMACLimit >= 1, peerMACLimit >= 1 else { throw ValidationError("--port-macs and --peer-macs must be positive") }
        guard (0...61440).contains(priority), priority % 4096 == 0 else { throw ValidationError("--priority must be a multiple of 4096 in 0…61440") }
        guard (0...4096).contains(portQueue) else { throw ValidationError("--port-queue must be 0…4096") }
        guard (4096...(64 << 20)).contains(socketBuffer) else { throw ValidationError("--sndbuf must be 4096…67108864") }
        guard (0...10_000).contains(moderation) else { throw ValidationError("--moderation must be 0…10000 microseconds") }
        guard stallTimeout >= 0.001, stallTimeout <= 60 else { throw ValidationError("--stall-timeout must be 0.001…60 seconds") }
        guard (1...200_000_000).contains(peerCost), (1...200_000_000).contains(clientCost) else {
            throw ValidationError("--peer-cost and --client-cost must be 1…200000000")
        }
        guard liveness >= 0.2, liveness <= 3600 else { throw ValidationError("--liveness must be 0.2…3600 seconds") }
        if let group, ProcessEnvironment.groupID(named: group) == nil { throw ValidationError("unknown group '\(group)'") }
        if let socketDirectory, socketDirectory.utf8.count > 90 {
            throw ValidationError("socket directory path too long for unix sockets (max 90 bytes)")
        }
    }

    var resolvedIdentityPath: String {
        identityPath ?? IdentityStore.defaultPath(socketDirectory: resolvedSocketDirectory)
    }

    var resolvedSocketDirectory: String {
        if let socketDirectory { return socketDirectory }
        if let runtime = ProcessEnvironment.variable("XDG_RUNTIME_DIR") {
            return runtime + "/f2f-switch"
        }
        return "/tmp/f2f-switch-\(ProcessEnvironment.userID)"
    }

    var permissions: SocketPermissions {
        SocketPermissions(socketMode: mode?.value, directoryMode: directoryMode?.value, groupID: group.flatMap(ProcessEnvironment.groupID(named:)))
    }

    var switchConfiguration: SwitchConfiguration {
        SwitchConfiguration(
            portCount: numports, maxFrameSize: maxFrame, macTableCapacity: hashSize,
            macAgingTime: .seconds(hashExpire), clientPathCost: clientCost, peerPathCost: peerCost,
            clientMACLimit: clientMACLimit, peerMACLimit: peerMACLimit,
            peerStormLimits: StormLimits(broadcast: peerStormLimit, multicast: peerStormLimit, unknownUnicast: peerStormLimit))
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

/// A `--peer` or `peer/add` argument: `HOST:PORT`, or `ID@HOST:PORT` to pin who answers there.
struct PeerLine: Equatable {
    var address: TCPAddress
    var pinnedID: PeerID?

    init?(parsing text: String) {
        var rest = Substring(text)
        if let at = text.firstIndex(of: "@") {
            guard let id = PeerID(parsing: String(text[..<at])) else { return nil }
            pinnedID = id
            rest = text[text.index(after: at)...]
        }
        guard let address = TCPAddress(parsing: String(rest)), address.host != nil else { return nil }
        self.address = address
    }
}
