import F2FBase

/// The filtering database: which port a station (MAC + VLAN) was last seen on.
///
/// Bounded twice: when the table is full, or a port already holds its share of stations, new
/// stations are not learned (counted) and their traffic floods — so a MAC-flooding client or
/// peer can neither evict everyone else's entries nor take the whole table. Entries older than
/// the aging time are hidden on lookup at once and swept on the periodic tick.
///
/// Two kinds of entry are not moved by any frame: static entries (set by the administrator,
/// never aged, kept when their port goes away), and — for frames from a peer link — live
/// entries learned on a local port: a friend cannot take over a local station's address.
public struct MACTable: Sendable {
    public struct Entry: Equatable, Sendable {
        public var port: Int
        public var lastSeen: Instant
        /// Learned on a local (client or plug) port: a peer's frame does not move it while it lives.
        public var isLocal = true
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

    /// Records that `address` was seen on `port`, which may hold at most `portLimit` stations.
    /// `fromPeer`: the frame came over a peer link (its station is not local).
    /// Callers never pass group addresses.
    @discardableResult
    public mutating func learn(
        _ address: MACAddress, vlanID: UInt16, port: Int, now: Instant, portLimit: Int = .max, fromPeer: Bool = false
    ) -> LearnOutcome {
        let key = Self.key(address, vlanID: vlanID)
        if let index = entries.index(forKey: key) {
            if entries.values[index].port == port {
                entries.values[index].lastSeen = now
                return .refreshed
            }
            let entry = entries.values[index]
            // A live local entry is not handed to a peer: the station still speaks here, and
            // a friend sending its address is spoofing (or a loop returning its frames).
            if entry.isStatic || (fromPeer && entry.isLocal && now - entry.lastSeen < agingTime) {
                return .refusedProtected
            }
            guard stations(onPort: port) < portLimit else {
                // The station moved to a full port: forget the old port so its traffic floods.
                entries.remove(at: index)
                stationsPerPort[entry.port, default: 1] -= 1
                portLimitRefusedCount &+= 1
                return .refusedPortFull
            }
            entries.values[index] = Entry(port: port, lastSeen: now, isLocal: !fromPeer)
            stationsPerPort[entry.port, default: 1] -= 1
            stationsPerPort[port, default: 0] += 1
            return .moved(from: entry.port)
        }
        guard entries.count < capacity else {
            refusedCount &+= 1
            return .refusedTableFull
        }
        guard stations(onPort: port) < portLimit else {
            portLimitRefusedCount &+= 1
            return .refusedPortFull
        }
        entries[key] = Entry(port: port, lastSeen: now, isLocal: !fromPeer)
        stationsPerPort[port, default: 0] += 1
        return .learned
    }

    /// Pins `address` to `port`, replacing whatever entry it had. Static entries may exceed
    /// the capacity (the administrator's choice) but count towards it for learned ones.
    public mutating func addStatic(_ address: MACAddress, vlanID: UInt16, port: Int) {
        remove(address, vlanID: vlanID)
        entries[Self.key(address, vlanID: vlanID)] = Entry(port: port, lastSeen: .zero, isLocal: true, isStatic: true)
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
    }
}
