/// 802.1D-2004 17.6: the spanning tree priority vector, compared component by component,
/// lower is better.
public struct PriorityVector: Hashable, Comparable, Sendable {
    public var rootID: BridgeID
    public var rootPathCost: UInt32
    public var designatedBridgeID: BridgeID
    public var designatedPortID: UInt16
    /// The port on which the vector was received (not part of BPDUs).
    public var bridgePortID: UInt16

    public init(rootID: BridgeID, rootPathCost: UInt32, designatedBridgeID: BridgeID, designatedPortID: UInt16, bridgePortID: UInt16) {
        self.rootID = rootID
        self.rootPathCost = rootPathCost
        self.designatedBridgeID = designatedBridgeID
        self.designatedPortID = designatedPortID
        self.bridgePortID = bridgePortID
    }

    public static func < (lhs: PriorityVector, rhs: PriorityVector) -> Bool {
        (lhs.rootID, lhs.rootPathCost, lhs.designatedBridgeID, lhs.designatedPortID, lhs.bridgePortID)
            < (rhs.rootID, rhs.rootPathCost, rhs.designatedBridgeID, rhs.designatedPortID, rhs.bridgePortID)
    }

    /// The first four components, as carried in a BPDU (17.6: what "superior" compares).
    var messageVector: (BridgeID, UInt32, BridgeID, UInt16) {
        (rootID, rootPathCost, designatedBridgeID, designatedPortID)
    }

    /// 17.6: better, or the same designated bridge and port sending something new.
    func isSuperior(to other: PriorityVector) -> Bool {
        messageVector < other.messageVector
            || (designatedBridgeID.address == other.designatedBridgeID.address
                && designatedPortID & 0x0FFF == other.designatedPortID & 0x0FFF)
    }
}

/// 17.13: message age, max age, hello time, forward delay, as carried by BPDUs.
public struct STPTimes: Hashable, Sendable {
    public var messageAge: BPDUTime
    public var maxAge: BPDUTime
    public var helloTime: BPDUTime
    public var forwardDelay: BPDUTime

    public init(messageAge: BPDUTime, maxAge: BPDUTime, helloTime: BPDUTime, forwardDelay: BPDUTime) {
        self.messageAge = messageAge
        self.maxAge = maxAge
        self.helloTime = helloTime
        self.forwardDelay = forwardDelay
    }

    /// 17.14 defaults: max age 20 s, hello 2 s, forward delay 15 s.
    public static let standard = STPTimes(
        messageAge: BPDUTime(rawValue: 0), maxAge: BPDUTime(seconds: 20),
        helloTime: BPDUTime(seconds: 2), forwardDelay: BPDUTime(seconds: 15))
}
