import F2FBase

/// Who may wait, unauthenticated, in the Noise handshake: the admission rules for incoming
/// connections before we know who is calling. Pure, over virtual time; the owner closes what
/// it is told to.
///
/// - A new connection is always admitted: when the pool is full the oldest pending connection
///   makes room (one that has not sent its first handshake message before one that has), so a
///   stranger who fills the pool delays a friend by at most one eviction instead of locking it
///   out, as a first-come pool that refuses the newest would.
/// - One source (an IPv4 address, an IPv6 /64) holds at most `perSource` places; its oldest
///   makes room for its newest, so one host cannot fill the pool.
/// - Sources the owner marks as reserved (the hosts of pinned peers, which redial us) have
///   `reserved` places of their own that strangers never take.
/// - Whoever has not sent a whole first handshake message within `firstMessageTimeout` (a
///   friend sends it at once), or not finished within `handshakeTimeout`, expires.
public struct PendingPool<Member: Hashable, Source: Hashable> {
    public struct Limits: Sendable {
        public var capacity: Int
        public var perSource: Int
        public var reserved: Int
        public var firstMessageTimeout: Duration
        public var handshakeTimeout: Duration

        public init(capacity: Int, perSource: Int, reserved: Int, firstMessageTimeout: Duration, handshakeTimeout: Duration) {
            precondition(capacity >= 1 && perSource >= 1 && reserved >= 0)
            self.capacity = capacity
            self.perSource = perSource
            self.reserved = reserved
            self.firstMessageTimeout = firstMessageTimeout
            self.handshakeTimeout = handshakeTimeout
        }
    }

    /// Why an admitted connection pushed an older one out.
    public enum Eviction: Equatable, Sendable {
        case sourceFull
        case poolFull
    }

    public enum Admission: Equatable {
        case admitted
        case admittedEvicting(Member, Eviction)
    }

    public enum Expiry: Equatable, Sendable {
        case noFirstMessage
        case handshakeTimeout
    }

    private struct Entry {
        var member: Member
        var source: Source
        var since: Instant
        var hasSpoken: Bool
        var isReserved: Bool
    }

    public let limits: Limits
    /// In order of admission; small (at most capacity + reserved), so scans are cheap.
    private var entries: [Entry] = []

    public init(limits: Limits) {
        self.limits = limits
        entries.reserveCapacity(limits.capacity + limits.reserved)
    }

    public var count: Int { entries.count }
    public var reservedCount: Int { entries.count(where: \.isReserved) }
    public func count(from source: Source) -> Int { entries.count(where: { $0.source == source }) }
    public func contains(_ member: Member) -> Bool { entries.contains { $0.member == member } }
    public var members: [Member] { entries.map(\.member) }

    public mutating func admit(_ member: Member, from source: Source, isReservedSource: Bool, now: Instant) -> Admission {
        precondition(!contains(member), "admitted twice")
        if isReservedSource, reservedCount < limits.reserved {
            entries.append(Entry(member: member, source: source, since: now, hasSpoken: false, isReserved: true))
            return .admitted
        }
        var admission = Admission.admitted
        if let victim = victim(where: { !$0.isReserved && $0.source == source }, ifAtLeast: limits.perSource) {
            admission = .admittedEvicting(entries.remove(at: victim).member, .sourceFull)
        } else if let victim = victim(where: { !$0.isReserved }, ifAtLeast: limits.capacity) {
            admission = .admittedEvicting(entries.remove(at: victim).member, .poolFull)
        }
        entries.append(Entry(member: member, source: source, since: now, hasSpoken: false, isReserved: false))
        return admission
    }

    /// The index of the entry to evict among those matching `candidate`, once there are at
    /// least `limit` of them: the oldest silent one, else the oldest.
    private func victim(where candidate: (Entry) -> Bool, ifAtLeast limit: Int) -> Int? {
        var matching = 0
        var oldest: Int?
        var oldestSilent: Int?
        for index in entries.indices where candidate(entries[index]) {
            matching += 1
            if oldest == nil { oldest = index }
            if oldestSilent == nil, !entries[index].hasSpoken { oldestSilent = index }
        }
        guard matching >= limit else { return nil }
        return oldestSilent ?? oldest
    }

    /// The member's first handshake message arrived whole: the first-message deadline no
    /// longer applies. False if it is not pending or had spoken already.
    @discardableResult
    public mutating func markSpoken(_ member: Member) -> Bool {
        guard let index = entries.firstIndex(where: { $0.member == member }), !entries[index].hasSpoken else { return false }
        entries[index].hasSpoken = true
        return true
    }

    /// The member authenticated, failed or closed: it leaves the pool. False if it was not in it.
    @discardableResult
    public mutating func remove(_ member: Member) -> Bool {
        guard let index = entries.firstIndex(where: { $0.member == member }) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Removes and returns the members whose deadline has passed.
    public mutating func expire(now: Instant) -> [(member: Member, expiry: Expiry)] {
        var expired: [(member: Member, expiry: Expiry)] = []
        entries.removeAll { entry in
            let age = now - entry.since
            if age >= limits.handshakeTimeout {
                expired.append((entry.member, .handshakeTimeout))
                return true
            }
            if !entry.hasSpoken, age >= limits.firstMessageTimeout {
                expired.append((entry.member, .noFirstMessage))
                return true
            }
            return false
        }
        return expired
    }

    public mutating func removeAll() -> [Member] {
        defer { entries.removeAll() }
        return entries.map(\.member)
    }
}
