import F2FBase

/// 802.1D-2004 9.2.5: a bridge identifier, priority (4 bits priority + 12 bits system id
/// extension) then MAC address; compared as one 64-bit number, lower is better.
public struct BridgeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var priority: UInt16
    public var address: MACAddress

    public init(priority: UInt16, address: MACAddress) {
        self.priority = priority
        self.address = address
    }

    public init(rawValue: UInt64) {
        priority = UInt16(truncatingIfNeeded: rawValue >> 48)
        address = MACAddress(rawValue: rawValue)
    }

    public var rawValue: UInt64 { UInt64(priority) << 48 | address.rawValue }

    public static func < (lhs: BridgeID, rhs: BridgeID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// tcpdump's notation: `8000.02:66:00:00:02:01`.
    public var description: String {
        let hex = String(priority, radix: 16)
        return String(repeating: "0", count: 4 - hex.count) + hex + "." + address.description
    }
}

/// 802.1D-2004 9.2.8: timer values on the wire, in units of 1/256 s, big-endian.
public struct BPDUTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public init(seconds: Int) {
        rawValue = UInt16(clamping: seconds * 256)
    }

    public var duration: Duration { .nanoseconds(Int64(rawValue) * 1_000_000_000 / 256) }
    public var wholeSeconds: Int { Int(rawValue) / 256 }

    public static func < (lhs: BPDUTime, rhs: BPDUTime) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        let hundredths = Int(rawValue) * 100 / 256
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)s"
    }
}

/// 802.1D-2004 9.3.1 / 9.3.3 flags octet.
public struct BPDUFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let topologyChange = BPDUFlags(rawValue: 0x01)
    public static let proposal = BPDUFlags(rawValue: 0x02)
    public static let learning = BPDUFlags(rawValue: 0x10)
    public static let forwarding = BPDUFlags(rawValue: 0x20)
    public static let agreement = BPDUFlags(rawValue: 0x40)
    public static let topologyChangeAcknowledgment = BPDUFlags(rawValue: 0x80)
    static let roleMask = BPDUFlags(rawValue: 0x0C)
}

/// 802.1D-2004 9.2.9 / 17.21.x: the port role encoded in an RST BPDU.
public enum BPDUPortRole: UInt8, Sendable {
    case unknown = 0
    case alternateOrBackup = 1
    case root = 2
    case designated = 3
}

/// The priority vector and timers carried by configuration and RST BPDUs (9.3.1, 9.3.3).
public struct BPDUInfo: Hashable, Sendable {
    public var flags: BPDUFlags
    public var rootID: BridgeID
    public var rootPathCost: UInt32
    public var bridgeID: BridgeID
    public var portID: UInt16
    public var messageAge: BPDUTime
    public var maxAge: BPDUTime
    public var helloTime: BPDUTime
    public var forwardDelay: BPDUTime

    public init(
        flags: BPDUFlags, rootID: BridgeID, rootPathCost: UInt32, bridgeID: BridgeID, portID: UInt16,
        messageAge: BPDUTime, maxAge: BPDUTime, helloTime: BPDUTime, forwardDelay: BPDUTime
    ) {
        self.flags = flags
        self.rootID = rootID
        self.rootPathCost = rootPathCost
        self.bridgeID = bridgeID
        self.portID = portID
        self.messageAge = messageAge
        self.maxAge = maxAge
        self.helloTime = helloTime
        self.forwardDelay = forwardDelay
    }

    /// Only RST BPDUs carry a role; configuration BPDUs use the TC and TCA bits alone.
    public var role: BPDUPortRole {
        BPDUPortRole(rawValue: (flags.rawValue & BPDUFlags.roleMask.rawValue) >> 2) ?? .unknown
    }

    public mutating func setRole(_ role: BPDUPortRole) {
        flags = BPDUFlags(rawValue: (flags.rawValue & ~BPDUFlags.roleMask.rawValue) | role.rawValue << 2)
    }
}

/// A bridge protocol data unit (802.1D-2004 clause 9) on an 802.3/LLC frame to the Bridge
/// Group Address. Strict: every length and fixed field is checked; nothing is trusted partially.
public enum BPDU: Hashable, Sendable {
    /// Version 0, type 0x00: 802.1D STP configuration BPDU (35 octets).
    case configuration(BPDUInfo)
    /// Type 0x80: topology change notification (4 octets).
    case topologyChangeNotification
    /// Version 2 (or later, 9.3.4), type 0x02: RST BPDU (36 octets).
    case rapid(BPDUInfo, version: UInt8)

    /// Offsets in the Ethernet frame that carries a BPDU.
    enum FrameField {
        static let lengthField = 12
        static let llc = 14
        static let body = 17
    }

    /// Offsets in the BPDU octets after the LLC header (802.1D-2004 9.3).
    enum Field {
        static let protocolID = 0
        static let version = 2
        static let type = 3
        static let flags = 4
        static let rootID = 5
        static let rootPathCost = 13
        static let bridgeID = 17
        static let portID = 25
        static let messageAge = 27
        static let maxAge = 29
        static let helloTime = 31
        static let forwardDelay = 33
        static let version1Length = 35
    }

    public static let configurationCount = 35
    public static let topologyChangeCount = 4
    public static let rapidCount = 36
    static let llc: [UInt8] = [0x42, 0x42, 0x03]

    /// Is this frame addressed to the spanning tree (whatever it contains)?
    public static func isAddressedToBridges(_ frame: Span<UInt8>) -> Bool {
        frame.count >= 6 && frame.bigEndianUInt48(at: 0) == MACAddress.bridgeGroup.rawValue
    }

    /// Parses a whole Ethernet frame.
    public init(frame: Span<UInt8>) throws(WireError) {
        try frame.requireCount(FrameField.body + Self.topologyChangeCount)
        guard frame.bigEndianUInt48(at: 0) == MACAddress.bridgeGroup.rawValue else {
            throw .invalidField(name: "destination", value: frame.bigEndianUInt48(at: 0))
        }
        // 802.3: the length field counts LLC + BPDU and strips any padding.
        let length = Int(frame.bigEndianUInt16(at: FrameField.lengthField))
        guard length <= 1500 else { throw .invalidField(name: "802.3 length", value: UInt64(length)) }
        guard length >= 3 + Self.topologyChangeCount else { throw .truncated(needed: 3 + Self.topologyChangeCount, available: length) }
        try frame.requireCount(FrameField.llc + length)
        for index in 0..<3 where frame[FrameField.llc + index] != Self.llc[index] {
            throw .invalidField(name: "LLC", value: UInt64(frame[FrameField.llc + index]))
        }
        self = try BPDU(parsing: frame.extracting(FrameField.body..<(FrameField.llc + length)))
    }

    /// Parses the BPDU octets after the LLC header (802.1D-2004 9.3.4 validation).
    public init(parsing body: Span<UInt8>) throws(WireError) {
        try body.requireCount(Self.topologyChangeCount)
        let protocolID = body.bigEndianUInt16(at: Field.protocolID)
        guard protocolID == 0 else { throw .invalidField(name: "protocol id", value: UInt64(protocolID)) }
        let version = body[Field.version]
        let type = body[Field.type]
        switch type {
        case 0x80:
            self = .topologyChangeNotification
        case 0x00:
            try body.requireCount(Self.configurationCount)
            self = .configuration(Self.info(body))
        case 0x02 where version >= 2:
            try body.requireCount(Self.rapidCount)
            self = .rapid(Self.info(body), version: version)
        default:
            throw .invalidField(name: "BPDU type", value: UInt64(type))
        }
    }

    private static func info(_ body: Span<UInt8>) -> BPDUInfo {
        BPDUInfo(
            flags: BPDUFlags(rawValue: body[Field.flags]),
            rootID: BridgeID(rawValue: UInt64(body.bigEndianUInt32(at: Field.rootID)) << 32 | UInt64(body.bigEndianUInt32(at: Field.rootID + 4))),
            rootPathCost: body.bigEndianUInt32(at: Field.rootPathCost),
            bridgeID: BridgeID(rawValue: UInt64(body.bigEndianUInt32(at: Field.bridgeID)) << 32 | UInt64(body.bigEndianUInt32(at: Field.bridgeID + 4))),
            portID: body.bigEndianUInt16(at: Field.portID),
            messageAge: BPDUTime(rawValue: body.bigEndianUInt16(at: Field.messageAge)),
            maxAge: BPDUTime(rawValue: body.bigEndianUInt16(at: Field.maxAge)),
            helloTime: BPDUTime(rawValue: body.bigEndianUInt16(at: Field.helloTime)),
            forwardDelay: BPDUTime(rawValue: body.bigEndianUInt16(at: Field.forwardDelay)))
    }

    /// The BPDU octets `encode(into:)` appends (the frame adds 17: header and LLC).
    public var encodedCount: Int {
        switch self {
        case .configuration: Self.configurationCount
        case .topologyChangeNotification: Self.topologyChangeCount
        case .rapid: Self.rapidCount
        }
    }

    /// Appends the whole frame: header to the Bridge Group Address from `source`, LLC, BPDU.
    public func encodeFrame(source: MACAddress, into bytes: inout [UInt8]) {
        bytes.appendBigEndianUInt48(MACAddress.bridgeGroup.rawValue)
        bytes.appendBigEndianUInt48(source.rawValue)
        bytes.appendBigEndian(UInt16(3 + encodedCount))
        bytes += Self.llc
        encode(into: &bytes)
    }

    /// Appends the BPDU octets (what `init(parsing:)` reads).
    public func encode(into bytes: inout [UInt8]) {
        bytes.appendBigEndian(UInt16(0))
        switch self {
        case .topologyChangeNotification:
            bytes += [0x00, 0x80]
        case .configuration(let info):
            bytes += [0x00, 0x00]
            Self.encode(info, into: &bytes)
        case .rapid(let info, let version):
            bytes += [version, 0x02]
            Self.encode(info, into: &bytes)
            bytes.append(0)  // version 1 length: no version-1 protocol information
        }
    }

    private static func encode(_ info: BPDUInfo, into bytes: inout [UInt8]) {
        bytes.append(info.flags.rawValue)
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: info.rootID.rawValue >> 32))
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: info.rootID.rawValue))
        bytes.appendBigEndian(info.rootPathCost)
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: info.bridgeID.rawValue >> 32))
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: info.bridgeID.rawValue))
        bytes.appendBigEndian(info.portID)
        for time in [info.messageAge, info.maxAge, info.helloTime, info.forwardDelay] {
            bytes.appendBigEndian(time.rawValue)
        }
    }
}
