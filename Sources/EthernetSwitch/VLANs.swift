/// 802.1Q VLAN membership of a switch: which VLANs exist and which ports are their tagged
/// members (a port's untagged VLAN is a port setting, `Switch.Port.untaggedVLAN`).
///
/// Flat bit sets indexed by VID, allocated once: the data path tests a bit, never hashes.
public struct VLANs: Sendable {
    /// VID 4095: reserved by 802.1Q; as a port's untagged VLAN it means "none" (vde_switch's NOVLAN).
    public static let none: UInt16 = 4095

    /// True once a VLAN besides 0 exists or a port's untagged VLAN is not 0.
    public internal(set) var isInUse = false
    private var existing = [Bool](repeating: false, count: 4096)
    private var tagged: VLANPortBits
    /// Friend links' allowed-VLAN lists (`peer/setvlans`) as the data path tests them: a set
    /// bit takes the VLAN off the link.
    private var deniedOnLink: VLANPortBits
    /// The lists themselves, by port, for the console; ports absent carry every VLAN.
    public private(set) var linkLists: [Int: VLANList] = [:]

    init(portCount: Int) {
        tagged = VLANPortBits(portCount: portCount)
        deniedOnLink = VLANPortBits(portCount: portCount)
        existing[0] = true
    }

    @inline(__always)
    public func exists(_ vlan: UInt16) -> Bool {
        vlan < 4096 && existing[Int(vlan)]
    }

    /// Existing VLANs, ascending.
    public var identifiers: [UInt16] {
        (0..<UInt16(4096)).filter { existing[Int($0)] }
    }

    var hasVLANsBesideZero: Bool {
        existing.dropFirst().contains(true)
    }

    /// Explicit tagged membership (`vlan/addport`); a friend link's trunk membership is the
    /// switch's rule (`Switch.egressForm`), not recorded here.
    @inline(__always)
    public func isTaggedMember(_ port: Int, vlan: UInt16) -> Bool {
        tagged.contains(port, vlan: vlan)
    }

    /// Whether a friend link's list lets `vlan` cross it tagged.
    @inline(__always)
    public func isAllowedOnLink(_ port: Int, vlan: UInt16) -> Bool {
        !deniedOnLink.contains(port, vlan: vlan)
    }

    /// The list of a friend link; `VLANList.all` forgets it.
    mutating func setLinkList(_ list: VLANList, port: Int) {
        linkLists[port] = list.isAll ? nil : list
        // A list names VIDs 1...4094; VLAN 0 (tagged only on a link whose untagged VLAN is
        // another) crosses only with `all`, as before lists. 4095 never exists.
        for vlan in 0..<VLANs.none {
            let allowed = vlan == 0 ? list.isAll : list.contains(vlan)
            deniedOnLink.set(port, vlan: vlan, !allowed)
        }
    }

    mutating func create(_ vlan: UInt16) {
        existing[Int(vlan)] = true
    }

    mutating func remove(_ vlan: UInt16) {
        existing[Int(vlan)] = false
        tagged.clear(vlan: vlan)
    }

    mutating func setTaggedMember(_ port: Int, vlan: UInt16, _ member: Bool) {
        tagged.set(port, vlan: vlan, member)
    }
}

/// One bit per VID and port, a VID's ports in consecutive words. Allocated when the first bit
/// is set: a switch without trunks or link lists carries no table and tests only that.
///
/// Ports and VIDs are in range here (array indices, 12 bits): no overflow checks.
struct VLANPortBits: Sendable {
    private var words: [UInt64] = []
    private let wordsPerVLAN: Int

    init(portCount: Int) {
        wordsPerVLAN = (portCount + 63) / 64
    }

    @inline(__always)
    func contains(_ port: Int, vlan: UInt16) -> Bool {
        guard !words.isEmpty else { return false }
        return words[Int(vlan) &* wordsPerVLAN &+ port &>> 6] & (1 &<< UInt64(port & 63)) != 0
    }

    mutating func set(_ port: Int, vlan: UInt16, _ isSet: Bool) {
        if words.isEmpty {
            guard isSet else { return }
            words = [UInt64](repeating: 0, count: 4096 * wordsPerVLAN)
        }
        let index = Int(vlan) * wordsPerVLAN + port / 64
        let bit: UInt64 = 1 << UInt64(port % 64)
        if isSet { words[index] |= bit } else { words[index] &= ~bit }
    }

    mutating func clear(vlan: UInt16) {
        guard !words.isEmpty else { return }
        for word in 0..<wordsPerVLAN { words[Int(vlan) * wordsPerVLAN + word] = 0 }
    }
}

/// One copy of a frame: its port and whether it leaves tagged.
public struct VLANTarget: Sendable, Equatable {
    public var port: Int
    public var tagged: Bool

    public init(port: Int, tagged: Bool) {
        self.port = port
        self.tagged = tagged
    }
}

/// How one copy of a frame leaves a port.
public enum VLANEgress: Sendable, Equatable {
    case none
    case untagged
    case tagged
}

/// Why a VLAN change was refused; the console maps each to vde_switch's error code.
public enum VLANError: Error, Sendable, Equatable {
    /// Outside what the command takes.
    case invalidVLAN
    case noSuchVLAN
    case exists
    /// A port is still in the VLAN, or it is the port's untagged VLAN.
    case inUse
    /// The port has no client and was not made with `port/create`.
    case noSuchPort
}
