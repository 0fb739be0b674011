import EthernetSwitch
import F2FPosix
import F2FSecure
import F2FTransportTCP
import SwitchRuntime
import VDEServer

/// Everything a switch node is started with, already parsed and checked: what `f2f-switch`'s
/// options become, and what a program embedding the switch fills in itself. The defaults are
/// the command's defaults (the options read them from here).
public struct SwitchNodeSettings: Sendable {
    public static let defaults = SwitchNodeSettings()

    // The VDE side: where clients attach and who may.
    public var socketDirectoryLocation: SocketDirectoryLocation = .privateTemporary(prefix: SocketDirectoryLocation.temporaryPrefix)
    public var permissions = SocketPermissions()
    public var numports = 32
    public var socketBuffer: Int32 = 256 << 10
    public var clientRoot = false
    public var plugs: [String] = []
    public var streams: [String] = []
    public var dgrams: [String] = []

    // The console and the process.
    public var managementPath: String?
    public var managementMode: UInt32 = 0o600
    public var maxConsoleSessions = 16
    public var rcFile: String?
    public var pidFile: String?
    /// Where `GET /metrics` is served; a missing host means loopback (docs/metrics.md).
    public var metrics: TCPAddress?

    // The switch.
    public var switchConfiguration = SwitchConfiguration()
    public var macAddress: MACAddress?
    public var noSpanningTree = false
    public var priority = 32768
    public var portQueue = 256
    /// Microseconds frames may gather under dense traffic before the loop looks again.
    public var moderation = 100
    public var stallTimeout: Double = 0.1
    /// Ports kept for local clients and plugs: peer links never take them (at most half the
    /// ports of a small switch).
    public var clientPorts = 8

    // Friends.
    public var nodeName: String?
    public var listen: TCPAddress?
    public var peers: [PeerLine] = []
    public var friends: [PeerID] = []
    public var friendsFile: String?
    /// Nil: the default place in the user's configuration directory (`resolvedIdentityPath()`).
    public var identityPath: String?
    public var networkKeyPath: String?
    public var plaintext = false
    /// Friend links on TCP only, as before issue 15 (no UDP socket, no offers).
    public var noUDP = false
    /// Unicast to other nodes' stations follows the spanning tree (docs/mesh-routing.md).
    public var noMeshRouting = false
    /// Ask the home router (NAT-PMP, else UPnP-IGD) to forward our UDP and TCP ports.
    public var mapPort = false
    /// Seconds each mapping is asked for (RFC 6886 recommends 7200); renewed at half.
    public var mapPortLifetime: UInt32 = 7200
    public var liveness: Double = 3
    public var rootFriends: [PeerID] = []
    /// `--peer-vlans ID=LIST`: the tagged VLANs each friend's link carries (default all).
    public var peerVLANs: [PeerID: VLANList] = [:]
    public var noRemoteRoot = false

    // Limits before authentication (docs/security/pre-authentication.md).
    public var maxPeers = 64
    public var maxPending = 16
    public var maxPendingPerSource = 4
    public var reservedPending = 4
    public var handshakeTimeout: Double = 5
    public var firstMessageTimeout: Double = 1
    public var handshakeRate: Double = 100
    public var handshakeRatePerSource: Double = 5

    public init() {}

    /// Ports peer links may hold together: all but port 0 (given only on request) and the
    /// ports kept for clients; on a switch of few ports, at least half of them stay for peers.
    public var peerPortLimit: Int {
        let allocatable = numports - 1
        return allocatable - min(clientPorts, allocatable / 2)
    }

    public var maxFrame: Int { switchConfiguration.maxFrameSize }
    public var clientMACLimit: Int { switchConfiguration.clientMACLimit }
    public var peerMACLimit: Int { switchConfiguration.peerMACLimit }

    /// `identityPath`, else the default in the user's configuration directory; without one
    /// (no HOME, as in a service without `User=`) the switch refuses to guess a place.
    public func resolvedIdentityPath() throws(IdentityStore.Failure) -> String {
        if let identityPath { return identityPath }
        if let path = IdentityStore.defaultPath() { return path }
        throw IdentityStore.Failure(
            description: "neither HOME nor XDG_CONFIG_HOME is set, so there is no private place for this node's key: "
                + "pass --identity FILE (and --friends FILE), or set HOME")
    }
}

/// A `--peer` or `peer/add` argument: `HOST:PORT`, or `ID@HOST:PORT` to pin who answers there.
public struct PeerLine: Equatable, Sendable {
    public var address: TCPAddress
    public var pinnedID: PeerID?

    public init(address: TCPAddress, pinnedID: PeerID? = nil) {
        self.address = address
        self.pinnedID = pinnedID
    }

    public init?(parsing text: String) {
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
