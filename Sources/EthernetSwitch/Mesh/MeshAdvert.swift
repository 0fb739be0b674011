import F2FBase

/// One node's link-state advert (F2F packet `meshAdvert`, docs/mesh-routing.md): who it is,
/// which friends it is linked to at what cost, and which stations it owns — stations it has
/// seen on its own non-peer ports (VDE clients, `--plug` ports, cables). Flooded over every
/// friend link; a newer sequence number replaces an older advert of the same origin.
///
/// ```
/// 0   origin node id        8 bytes, big-endian
/// 8   sequence              4
/// 12  link count            2
/// 14  station count         2
/// 16  links                 12 each: neighbour node id (8), cost (4)
///     stations              8 each: VLAN id (2), MAC address (6)
/// ```
public struct MeshAdvert: Equatable, Sendable {
    public struct Link: Equatable, Hashable, Sendable {
        public var neighbour: UInt64
        public var cost: UInt32

        public init(neighbour: UInt64, cost: UInt32) {
            self.neighbour = neighbour
            self.cost = cost
        }
    }

    public static let headerCount = 16
    public static let linkCount = 12
    public static let stationCount = 8
    /// Bounds that keep an advert inside one F2F packet (65 535 bytes).
    public static let maximumLinks = 1024
    public static let maximumStations = 6000

    enum Field {
        static let origin = 0
        static let sequence = 8
        static let linkCount = 12
        static let stationCount = 14
    }

    public var origin: UInt64
    public var sequence: UInt32
    /// Sorted by neighbour, so two adverts with the same content compare equal.
    public var links: [Link]
    /// Station keys (`MeshAdvert.stationKey`), sorted.
    public var stations: [UInt64]

    public init(origin: UInt64, sequence: UInt32, links: [Link], stations: [UInt64]) {
        self.origin = origin
        self.sequence = sequence
        self.links = links.sorted { $0.neighbour < $1.neighbour }
        self.stations = stations.sorted()
    }

    /// The station's key as the MAC table builds it: the VLAN in the top 16 bits.
    @inline(__always)
    public static func stationKey(_ address: MACAddress, vlanID: UInt16) -> UInt64 {
        UInt64(vlanID & 0x0FFF) << 48 | address.rawValue
    }

    public var encodedCount: Int {
        Self.headerCount + links.count * Self.linkCount + stations.count * Self.stationCount
    }

    public init(parsing bytes: Span<UInt8>) throws(WireError) {
        try bytes.requireCount(Self.headerCount)
        let linkCount = Int(bytes.bigEndianUInt16(at: Field.linkCount))
        let stationCount = Int(bytes.bigEndianUInt16(at: Field.stationCount))
        guard linkCount <= Self.maximumLinks else { throw .invalidField(name: "link count", value: UInt64(linkCount)) }
        guard stationCount <= Self.maximumStations else { throw .invalidField(name: "station count", value: UInt64(stationCount)) }
        // The only length check: every read below is inside it.
        try bytes.requireCount(Self.headerCount + linkCount * Self.linkCount + stationCount * Self.stationCount)
        let origin = Self.uint64(bytes, at: Field.origin)
        let sequence = bytes.bigEndianUInt32(at: Field.sequence)
        var links: [Link] = []
        links.reserveCapacity(linkCount)
        var offset = Self.headerCount
        for _ in 0..<linkCount {
            links.append(Link(neighbour: Self.uint64(bytes, at: offset), cost: bytes.bigEndianUInt32(at: offset + 8)))
            offset += Self.linkCount
        }
        var stations: [UInt64] = []
        stations.reserveCapacity(stationCount)
        for _ in 0..<stationCount {
            let vlan = UInt64(bytes.bigEndianUInt16(at: offset) & 0x0FFF)
            stations.append(vlan << 48 | bytes.bigEndianUInt48(at: offset + 2))
            offset += Self.stationCount
        }
        self.init(origin: origin, sequence: sequence, links: links, stations: stations)
    }

    public func encode(into bytes: inout [UInt8]) {
        precondition(links.count <= Self.maximumLinks && stations.count <= Self.maximumStations, "advert too large")
        Self.append(origin, to: &bytes)
        bytes.appendBigEndian(sequence)
        bytes.appendBigEndian(UInt16(links.count))
        bytes.appendBigEndian(UInt16(stations.count))
        for link in links {
            Self.append(link.neighbour, to: &bytes)
            bytes.appendBigEndian(link.cost)
        }
        for station in stations {
            bytes.appendBigEndian(UInt16(truncatingIfNeeded: station >> 48))
            bytes.appendBigEndianUInt48(station & 0xFFFF_FFFF_FFFF)
        }
    }

    /// The same links and stations (the sequence aside).
    public func hasSameContent(as other: MeshAdvert) -> Bool {
        origin == other.origin && links == other.links && stations == other.stations
    }

    @inline(__always)
    static func uint64(_ bytes: Span<UInt8>, at offset: Int) -> UInt64 {
        UInt64(bytes.bigEndianUInt32(at: offset)) << 32 | UInt64(bytes.bigEndianUInt32(at: offset + 4))
    }

    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: value >> 32))
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: value))
    }
}
