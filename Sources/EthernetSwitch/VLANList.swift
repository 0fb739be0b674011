/// The tagged VLANs a friend link carries (`peer/setvlans`, `--peer-vlans`): `all` (every
/// VLAN that exists, the default), `none` (only the link's untagged VLAN), or VIDs and
/// ranges such as `10,20,30-40`. The link's untagged VLAN is not part of the list: it always
/// crosses, untagged.
///
/// Ascending, disjoint, non-adjacent ranges of 1...4094, so two lists that allow the same
/// VLANs are equal and print the same.
public struct VLANList: Sendable, Equatable, CustomStringConvertible {
    public private(set) var ranges: [ClosedRange<UInt16>]

    public static let all = VLANList(normalizing: [1...4094])
    public static let none = VLANList(normalizing: [])

    public enum ParseError: Error, Sendable, Equatable {
        /// A VID outside 1...4094 (0 and 4095 are reserved by 802.1Q), or a range backwards.
        case invalidVLAN(String)
        /// Not a list: empty items, stray characters, a number too long.
        case malformed(String)
    }

    public init(_ ranges: [ClosedRange<UInt16>]) throws(ParseError) {
        for range in ranges where range.lowerBound == 0 || range.upperBound > 4094 {
            throw .invalidVLAN("\(range.lowerBound)-\(range.upperBound)")
        }
        self.init(normalizing: ranges)
    }

    private init(normalizing input: [ClosedRange<UInt16>]) {
        var merged: [ClosedRange<UInt16>] = []
        for range in input.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        ranges = merged
    }

    /// `all`, `none` or `untagged` (the same), or comma-separated VIDs and `LOW-HIGH` ranges.
    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingSpaces
        switch trimmed {
        case "all": self = .all
        case "none", "untagged": self = .none
        default:
            var ranges: [ClosedRange<UInt16>] = []
            for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
                let bounds = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                let low = try Self.vid(bounds[0], in: item)
                let high = bounds.count == 2 ? try Self.vid(bounds[1], in: item) : low
                guard low <= high else { throw .invalidVLAN(String(item)) }
                ranges.append(low...high)
            }
            self.init(normalizing: ranges)
        }
    }

    private static func vid(_ text: Substring, in item: Substring) throws(ParseError) -> UInt16 {
        // At most four digits: `UInt16` alone would take a sign and wrap nothing, but "00010"
        // is no VID anyone writes.
        guard (1...4).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt16(text) else {
            throw .malformed(String(item))
        }
        guard (1...4094).contains(value) else { throw .invalidVLAN(String(item)) }
        return value
    }

    public var isAll: Bool { self == .all }

    public func contains(_ vlan: UInt16) -> Bool {
        ranges.contains { $0.contains(vlan) }
    }

    /// `all`, `none`, or the ranges as they parse back: `10,20,30-40`.
    public var description: String {
        if isAll { return "all" }
        if ranges.isEmpty { return "none" }
        return ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map(index(after:)) ?? start
        return self[start..<end]
    }
}
