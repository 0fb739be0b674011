import F2FBase

/// 17.19: the per-port variables of the spanning tree state machines.
public struct STPPort: Sendable {
    /// 17.19.10 infoIs: where the port's priority vector came from.
    enum InfoOrigin: Sendable {
        case disabled, aged, mine, received
    }

    public let number: Int
    /// 9.2.7: 4-bit priority, 12-bit port number.
    public internal(set) var portID: UInt16
    public internal(set) var pathCost: UInt32
    public internal(set) var adminEdge: Bool
    /// 17.19.17: an edge port forwards at once; hearing a BPDU ends it (17.25 bridge detection).
    /// It sends hellos like any designated port, so that a cable to another bridge is found
    /// from both ends.
    public internal(set) var operEdge: Bool
    public internal(set) var pointToPoint: Bool
    public internal(set) var role: STPPortRole = .disabled
    public internal(set) var state: STPPortState = .discarding
    /// 17.19.22: false once a legacy (version 0) bridge was heard on this port.
    public internal(set) var sendRSTP = true
    public internal(set) var bpdusReceived: UInt64 = 0
    public internal(set) var bpdusSent: UInt64 = 0
    public internal(set) var guards: STPPortGuards
    /// Root guard holds the port discarding: its neighbour announces a better root than ours.
    public internal(set) var isRootInconsistent = false
    /// Topology changes heard here and not acted on (guard or rate limit).
    public internal(set) var topologyChangesIgnored: UInt64 = 0
    /// BPDUs dropped unread because of the BPDU filter.
    public internal(set) var bpdusFiltered: UInt64 = 0

    var infoIs: InfoOrigin = .disabled
    var portPriority: PriorityVector
    var portTimes: STPTimes = .standard
    var designatedPriority: PriorityVector
    var designatedTimes: STPTimes = .standard
    /// 17.19: flags of the port role transition machine.
    var proposing = false
    var proposed = false
    var agree = false
    var agreed = false
    var sync = false
    var synced = false
    var tcAck = false
    var newInfo = false
    /// 17.17 timers, as deadlines (nil = stopped).
    var rcvdInfoWhile: Instant?
    var fdWhile: Instant?
    var tcWhile: Instant?
    var helloWhen: Instant?
    var mdelayWhile: Instant?
    /// What this port last announced, to let bad news past the transmit hold count.
    var lastAnnounced: PriorityVector?
    var transmitWindowStart = Instant.zero
    var transmittedInWindow = 0
    /// When a topology change heard here was last acted on (rate limit).
    var lastAcceptedTopologyChange: Instant?
    /// Ignored topology changes not yet reported, and when the last report went out.
    var unreportedIgnoredChanges: UInt64 = 0
    var lastIgnoredReport: Instant?

    init(number: Int, portID: UInt16, pathCost: UInt32, edge: Bool, pointToPoint: Bool, guards: STPPortGuards, placeholder: PriorityVector) {
        self.number = number
        self.portID = portID
        self.pathCost = pathCost
        adminEdge = edge
        operEdge = edge
        self.pointToPoint = pointToPoint
        self.guards = guards
        portPriority = placeholder
        designatedPriority = placeholder
    }

    /// 17.20.12 rstpVersion && sendRSTP && operPointToPoint: may use proposal/agreement.
    var usesRapidHandshake: Bool { sendRSTP && pointToPoint }
}
