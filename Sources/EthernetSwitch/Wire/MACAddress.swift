import F2FBase

/// A 48-bit IEEE MAC address, kept as the low 48 bits of a UInt64 (first octet most
/// significant) so that table keys hash and compare as one integer.
public struct MACAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue & 0xFFFF_FFFF_FFFF
    }

    public init(_ o0: UInt8, _ o1: UInt8, _ o2: UInt8, _ o3: UInt8, _ o4: UInt8, _ o5: UInt8) {
        var value: UInt64 = 0
        for octet in [o0, o1, o2, o3, o4, o5] { value = value << 8 | UInt64(octet) }
        self.init(rawValue: value)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated); nil for anything else.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(omittingEmptySubsequences: false) { $0 == ":" || $0 == "-" }
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for part in parts {
            guard (1...2).contains(part.count), let octet = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(octet)
        }
        self.init(rawValue: value)
    }

    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)
    /// 802.1D-2004 7.12.3: the Bridge Group Address that carries BPDUs.
    public static let bridgeGroup = MACAddress(rawValue: 0x0180_C200_0000)

    /// The I/G bit: set for broadcast and every multicast group.
    public var isMulticast: Bool { rawValue & 0x0100_0000_0000 != 0 }
    public var isBroadcast: Bool { self == .broadcast }

    public var octets: [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> UInt64(40 - 8 * $0)) }
    }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        octets.map { octet in
            let hex = String(octet, radix: 16)
            return octet < 16 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}
