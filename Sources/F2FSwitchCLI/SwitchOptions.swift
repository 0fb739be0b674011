import ArgumentParser
import EthernetSwitch
import F2FTransportTCP
import Glibc
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

    @Option(name: .customLong("peer"), help: "Keep a link to the F2F peer at HOST:PORT (repeatable).")
    var peers: [String] = []

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

    @Option(name: .customLong("port-queue"), help: "Frames a port may hold while its client or peer is busy (drop-tail beyond).")
    var portQueue: Int = 256

    @Option(name: .customLong("sndbuf"), help: "Send and receive buffer of each client data socket, in bytes.")
    var socketBuffer: Int32 = 4 << 20

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
        for peer in peers where TCPAddress(parsing: peer)?.host == nil {
            throw ValidationError("--peer: expected HOST:PORT, got '\(peer)'")
        }
        guard (0...61440).contains(priority), priority % 4096 == 0 else { throw ValidationError("--priority must be a multiple of 4096 in 0…61440") }
        guard (0...4096).contains(portQueue) else { throw ValidationError("--port-queue must be 0…4096") }
        guard (4096...(64 << 20)).contains(socketBuffer) else { throw ValidationError("--sndbuf must be 4096…67108864") }
        guard (1...200_000_000).contains(peerCost), (1...200_000_000).contains(clientCost) else {
            throw ValidationError("--peer-cost and --client-cost must be 1…200000000")
        }
        guard liveness >= 0.2, liveness <= 3600 else { throw ValidationError("--liveness must be 0.2…3600 seconds") }
        if let group, resolveGroup(group) == nil { throw ValidationError("unknown group '\(group)'") }
        if let socketDirectory, socketDirectory.utf8.count > 90 {
            throw ValidationError("socket directory path too long for unix sockets (max 90 bytes)")
        }
    }

    var resolvedSocketDirectory: String {
        if let socketDirectory { return socketDirectory }
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !runtime.isEmpty {
            return runtime + "/f2f-switch"
        }
        return "/tmp/f2f-switch-\(getuid())"
    }

    var permissions: SocketPermissions {
        SocketPermissions(socketMode: mode?.value, directoryMode: directoryMode?.value, groupID: group.flatMap(resolveGroup))
    }

    var switchConfiguration: SwitchConfiguration {
        SwitchConfiguration(
            portCount: numports, maxFrameSize: maxFrame, macTableCapacity: hashSize,
            macAgingTime: .seconds(hashExpire), clientPathCost: clientCost, peerPathCost: peerCost)
    }

    private func resolveGroup(_ name: String) -> gid_t? {
        if let number = gid_t(name) { return number }
        guard let entry = getgrnam(name) else { return nil }
        return entry.pointee.gr_gid
    }
}

struct OctalMode: ExpressibleByArgument {
    var value: mode_t

    init(value: mode_t) {
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
