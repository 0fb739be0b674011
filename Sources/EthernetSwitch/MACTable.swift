import F2FBase

/// The filtering database: which port a station (MAC + VLAN) was last seen on.
///
/// Bounded three times: when the table is full, a port already holds its share of stations, or
/// the peer links together hold theirs, new stations are not learned (counted) and their
/// traffic floods — so a MAC-flooding client or peer can neither evict everyone else's entries
/// nor take the whole table, and local clients always find room however many friends link.
/// Entries older than the aging time are hidden on lookup at once and swept on the periodic tick.
public struct MACTable: Sendable {
    public struct Entry: Equatable, Sendable {
        public var port: Int
        public var lastSeen: Instant
        /// Learned on a peer port: counted in the peers' share.
        public var onPeerPort: Bool
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
        /// A peer port's new station, while the peer ports together hold `peerCapacity`.
        case refusedPeerShareFull
    }

    public private(set) var capacity: Int
    public var agingTime: Duration
    /// New stations refused because the table was full.
    public private(set) var refusedCount: UInt64 = 0
    /// New stations refused because their port held its limit.
    public private(set) var portLimitRefusedCount: UInt64 = 0
    /// The most stations all peer ports together may hold.
    public var peerCapacity: Int = .max
    /// Stations recorded on peer ports (aged ones until the next sweep).
    public private(set) var peerStationCount = 0
    /// New stations refused because the peer ports held their share of the table.
    public private(set) var peerShareRefusedCount: UInt64 = 0
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

    /// Records that `address` was seen on `port`, which may hold at most `portLimit` stations;
    /// a peer port's stations also count against `peerCapacity`. Callers never pass group
    /// addresses.
    @discardableResult
    public mutating func learn(
        _ address: MACAddress, vlanID: UInt16, port: Int, now: Instant, portLimit: Int = .max, onPeerPort: Bool = false
    ) -> LearnOutcome {
        let key = Self.key(address, vlanID: vlanID)
        if let index = entries.index(forKey: key) {
            let previousPort = entries.values[index].port
            if previousPort == port {
                entries.values[index].lastSeen = now
                return .refreshed
            }
            let refusal: LearnOutcome? =
                stations(onPort: port) >= portLimit ? .refusedPortFull
                : onPeerPort && !entries.values[index].onPeerPort && peerStationCount >= peerCapacity ? .refusedPeerShareFull
                : nil
            if let refusal {
                // The station moved to a full port: forget the old port so its traffic floods.
                let previous = entries.remove(at: index).value
                forget(previous)
                count(refusal)
                return refusal
            }
            forget(entries.values[index])
            entries.values[index] = Entry(port: port, lastSeen: now, onPeerPort: onPeerPort)
            record(entries.values[index])
            return .moved(from: previousPort)
        }
        guard entries.count < capacity else {
            refusedCount &+= 1
            return .refusedTableFull
        }
        guard stations(onPort: port) < portLimit else {
            count(.refusedPortFull)
            return .refusedPortFull
        }
        guard !onPeerPort || peerStationCount < peerCapacity else {
            count(.refusedPeerShareFull)
            return .refusedPeerShareFull
        }
        let entry = Entry(port: port, lastSeen: now, onPeerPort: onPeerPort)
        entries[key] = entry
        record(entry)
        return .learned
    }

    private mutating func record(_ entry: Entry) {
        stationsPerPort[entry.port, default: 0] += 1
        if entry.onPeerPort { peerStationCount += 1 }
    }

    private mutating func forget(_ entry: Entry) {
        let remaining = stations(onPort: entry.port) - 1
        stationsPerPort[entry.port] = remaining > 0 ? remaining : nil
        if entry.onPeerPort { peerStationCount -= 1 }
    }

    private mutating func count(_ refusal: LearnOutcome) {
        switch refusal {
        case .refusedPortFull: portLimitRefusedCount &+= 1
        case .refusedPeerShareFull: peerShareRefusedCount &+= 1
        case .refreshed, .learned, .moved, .refusedTableFull: break
        }
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
        peerStationCount = 0
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
            forget(entry)
        }
        return doomed.count
    }
}
