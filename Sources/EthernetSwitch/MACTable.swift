import F2FBase

/// The filtering database: which port a station (MAC + VLAN) was last seen on.
///
/// Bounded three times: when the table is full, a port already holds its share of stations, or
/// the peer links together hold theirs, new stations are not learned (counted) and their
/// traffic floods — so a MAC-flooding client or peer can neither evict everyone else's entries
/// nor take the whole table, and local clients always find room however many friends link.
/// Entries older than the aging time are hidden on lookup at once and swept on the periodic tick.
///
/// Two kinds of entry are not moved by any frame: static entries (set by the administrator,
/// never aged, kept when their port goes away), and — for frames from a peer link — live
/// entries learned on a local port: a friend cannot take over a local station's address.
public struct MACTable: Sendable {
    public struct Entry: Equatable, Sendable {
        public var port: Int
        public var lastSeen: Instant
        /// Learned on a peer port: counted in the peers' share; an entry learned on a local
        /// (client or plug) port is not moved by a peer's frame while it lives.
        public var onPeerPort = false
        /// Set from the console: never ages, never moves, outlives its port.
        public var isStatic = false
    }

    public struct Station: Equatable, Sendable {
        public var address: MACAddress
        public var vlanID: UInt16
        public var port: Int
        public var age: Duration
        public var isStatic: Bool
    }

    public enum LearnOutcome: Equatable, Sendable {
        case refreshed
        case learned
        case moved(from: Int)
        case refusedTableFull
        case refusedPortFull
        /// A peer port's new station, while the peer ports together hold `peerCapacity`.
        case refusedPeerShareFull
        /// The address is a static entry on another port, or a live local station and the
        /// frame came from a peer: the entry stays, the caller drops the frame.
        case refusedProtected
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
    /// Learned (not static) entries per port, for the per-port limit.
    private var stationsPerPort: [Int: Int] = [:]
    public private(set) var staticCount = 0

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
            let previous = entries.values[index]
            if previous.port == port {
                entries.values[index].lastSeen = now
                return .refreshed
            }
            // A live local entry is not handed to a peer: the station still speaks here, and
            // a friend sending its address is spoofing (or a loop returning its frames).
            if previous.isStatic || (onPeerPort && !previous.onPeerPort && now - previous.lastSeen < agingTime) {
                return .refusedProtected
            }
            let refusal: LearnOutcome? =
                stations(onPort: port) >= portLimit ? .refusedPortFull
                : onPeerPort && !previous.onPeerPort && peerStationCount >= peerCapacity ? .refusedPeerShareFull
                : nil
            if let refusal {
                // The station moved to a full port: forget the old port so its traffic floods.
                entries.remove(at: index)
                forget(previous)
                count(refusal)
                return refusal
            }
            forget(previous)
            entries.values[index] = Entry(port: port, lastSeen: now, onPeerPort: onPeerPort)
            record(entries.values[index])
            return .moved(from: previous.port)
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

    private mutating func count(_ refusal: LearnOutcome) {
        switch refusal {
        case .refusedPortFull: portLimitRefusedCount &+= 1
        case .refusedPeerShareFull: peerShareRefusedCount &+= 1
        case .refreshed, .learned, .moved, .refusedTableFull, .refusedProtected: break
        }
    }

    /// Pins `address` to `port`, replacing whatever entry it had. Static entries may exceed
    /// the capacity (the administrator's choice) but count towards it for learned ones.
    public mutating func addStatic(_ address: MACAddress, vlanID: UInt16, port: Int) {
        remove(address, vlanID: vlanID)
        entries[Self.key(address, vlanID: vlanID)] = Entry(port: port, lastSeen: .zero, isStatic: true)
        staticCount += 1
    }

    /// Forgets the entry of `address`, static or learned; false if there was none.
    @discardableResult
    public mutating func remove(_ address: MACAddress, vlanID: UInt16) -> Bool {
        guard let entry = entries.removeValue(forKey: Self.key(address, vlanID: vlanID)) else { return false }
        forget(entry)
        return true
    }

    /// Whether `address` is pinned to `port` by a static entry (what a locked port admits).
    @inline(__always)
    public func isStatic(_ address: MACAddress, vlanID: UInt16, onPort port: Int) -> Bool {
        guard let entry = entries[Self.key(address, vlanID: vlanID)] else { return false }
        return entry.isStatic && entry.port == port
    }

    /// Stations currently recorded on `port` (aged ones until the next sweep).
    public func stations(onPort port: Int) -> Int {
        stationsPerPort[port] ?? 0
    }

    /// The port of a live entry; aged entries are invisible even before the sweep.
    @inline(__always)
    public func lookup(_ address: MACAddress, vlanID: UInt16, now: Instant) -> Int? {
        guard let entry = entries[Self.key(address, vlanID: vlanID)] else { return nil }
        return now - entry.lastSeen < agingTime || entry.isStatic ? entry.port : nil
    }

    /// Forgets every learned station on `port` (the port went away or its topology changed);
    /// static entries stay: they are configuration, like vde_switch's settings of an inactive port.
    @discardableResult
    public mutating func removeEntries(onPort port: Int) -> Int {
        removeEntries { $0.port == port && !$0.isStatic }
    }

    /// Sweeps aged entries (never static ones); returns how many went.
    @discardableResult
    public mutating func expire(now: Instant) -> Int {
        let agingTime = agingTime
        return removeEntries { !$0.isStatic && now - $0.lastSeen >= agingTime }
    }

    /// Forgets everything, static entries included.
    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        stationsPerPort.removeAll()
        peerStationCount = 0
        staticCount = 0
    }

    /// Live stations sorted by VLAN then address, for the console.
    public func stations(now: Instant) -> [Station] {
        entries.compactMap { key, entry -> Station? in
            let age = entry.isStatic ? .zero : now - entry.lastSeen
            guard age < agingTime else { return nil }
            return Station(
                address: MACAddress(rawValue: key), vlanID: UInt16(key >> 48),
                port: entry.port, age: age, isStatic: entry.isStatic)
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

    private mutating func forget(_ entry: Entry) {
        if entry.isStatic {
            staticCount -= 1
            return
        }
        let remaining = stations(onPort: entry.port) - 1
        stationsPerPort[entry.port] = remaining > 0 ? remaining : nil
        if entry.onPeerPort { peerStationCount -= 1 }
    }
}
