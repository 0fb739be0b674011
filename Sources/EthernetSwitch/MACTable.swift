import F2FBase

/// The filtering database: which port a station (MAC + VLAN) was last seen on.
///
/// Bounded twice: when the table is full, or a port already holds its share of stations, new
/// stations are not learned (counted) and their traffic floods — so a MAC-flooding client or
/// peer can neither evict everyone else's entries nor take the whole table. Entries older than
/// the aging time are hidden on lookup at once and swept on the periodic tick.
public struct MACTable: Sendable {
    public struct Entry: Equatable, Sendable {
        public var port: Int
        public var lastSeen: Instant
    }

    public struct Station: Equatable, Sendable {
        public var address: MACAddress
        public var vlanID: UInt16
        public var port: Int
        public var age: Duration
    }

    public enum LearnOutcome: Equatable, Sendable {
        case refreshed
        case learned
        case moved(from: Int)
        case refusedTableFull
        case refusedPortFull
    }

    public private(set) var capacity: Int
    public var agingTime: Duration
    /// New stations refused because the table was full.
    public private(set) var refusedCount: UInt64 = 0
    /// New stations refused because their port held its limit.
    public private(set) var portLimitRefusedCount: UInt64 = 0
    private var entries: [UInt64: Entry]
    private var stationsPerPort: [Int: Int] = [:]

    public init(capacity: Int, agingTime: Duration) {
        precondition(capacity > 0, "MAC table capacity must be positive")
        self.capacity = capacity
        self.agingTime = agingTime
        entries = Dictionary(minimumCapacity: min(capacity, 1 << 16))
    }

    public var count: Int { entries.count }

    @inline(__always)
    static func key(_ address: MACAddress, vlanID: UInt16) -> UInt64 {
        UInt64(vlanID & 0x0FFF) << 48 | address.rawValue
    }

    /// Records that `address` was seen on `port`, which may hold at most `portLimit` stations.
    /// Callers never pass group addresses.
    @discardableResult
    public mutating func learn(_ address: MACAddress, vlanID: UInt16, port: Int, now: Instant, portLimit: Int = .max) -> LearnOutcome {
        let key = Self.key(address, vlanID: vlanID)
        if let index = entries.index(forKey: key) {
            let previousPort = entries.values[index].port
            if previousPort == port {
                entries.values[index].lastSeen = now
                return .refreshed
            }
            guard stations(onPort: port) < portLimit else {
                // The station moved to a full port: forget the old port so its traffic floods.
                entries.remove(at: index)
                stationsPerPort[previousPort, default: 1] -= 1
                portLimitRefusedCount &+= 1
                return .refusedPortFull
            }
            entries.values[index] = Entry(port: port, lastSeen: now)
            stationsPerPort[previousPort, default: 1] -= 1
            stationsPerPort[port, default: 0] += 1
            return .moved(from: previousPort)
        }
        guard entries.count < capacity else {
            refusedCount &+= 1
            return .refusedTableFull
        }
        guard stations(onPort: port) < portLimit else {
            portLimitRefusedCount &+= 1
            return .refusedPortFull
        }
        entries[key] = Entry(port: port, lastSeen: now)
        stationsPerPort[port, default: 0] += 1
        return .learned
    }

    /// Stations currently recorded on `port` (aged ones until the next sweep).
    public func stations(onPort port: Int) -> Int {
        stationsPerPort[port] ?? 0
    }

    /// The port of a live entry; aged entries are invisible even before the sweep.
    @inline(__always)
    public func lookup(_ address: MACAddress, vlanID: UInt16, now: Instant) -> Int? {
        guard let entry = entries[Self.key(address, vlanID: vlanID)] else { return nil }
        return now - entry.lastSeen < agingTime ? entry.port : nil
    }

    /// Forgets every station on `port` (the port went away or its topology changed).
    @discardableResult
    public mutating func removeEntries(onPort port: Int) -> Int {
        removeEntries { $0.port == port }
    }

    /// Sweeps aged entries; returns how many went.
    @discardableResult
    public mutating func expire(now: Instant) -> Int {
        let agingTime = agingTime
        return removeEntries { now - $0.lastSeen >= agingTime }
    }

    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        stationsPerPort.removeAll()
    }

    /// Live stations sorted by VLAN then address, for the console.
    public func stations(now: Instant) -> [Station] {
        entries.compactMap { key, entry -> Station? in
            let age = now - entry.lastSeen
            guard age < agingTime else { return nil }
            return Station(
                address: MACAddress(rawValue: key), vlanID: UInt16(key >> 48),
                port: entry.port, age: age)
        }
        .sorted { ($0.vlanID, $0.address) < ($1.vlanID, $1.address) }
    }

    private mutating func removeEntries(where shouldRemove: (Entry) -> Bool) -> Int {
        // Collect keys first: removing in place keeps the reserved storage (filter would not).
        let doomed = entries.compactMap { shouldRemove($0.value) ? $0.key : nil }
        for key in doomed {
            guard let entry = entries.removeValue(forKey: key) else { continue }
            let remaining = stations(onPort: entry.port) - 1
            stationsPerPort[entry.port] = remaining > 0 ? remaining : nil
        }
        return doomed.count
    }
}
