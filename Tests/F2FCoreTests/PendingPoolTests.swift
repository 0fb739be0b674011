import F2FBase
import F2FCore
import Testing

@Suite struct PendingPoolTests {
    typealias Pool = PendingPool<Int, String>

    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    static func pool(capacity: Int = 16, perSource: Int = 4, reserved: Int = 4) -> Pool {
        Pool(limits: .init(
            capacity: capacity, perSource: perSource, reserved: reserved,
            firstMessageTimeout: .seconds(1), handshakeTimeout: .seconds(5)))
    }

    @Test func aFullPoolEvictsItsOldestInsteadOfRefusingTheNewest() {
        var pool = Self.pool(capacity: 3, perSource: 10)
        for member in 0..<3 {
            let admission = pool.admit(member, from: "10.0.0.\(member)", isReservedSource: false, now: Self.at(Int64(member)))
            #expect(admission == .admitted)
        }
        let fourth = pool.admit(3, from: "10.0.0.3", isReservedSource: false, now: Self.at(3))
        #expect(fourth == .admittedEvicting(0, .poolFull))
        #expect(pool.members == [1, 2, 3])
    }

    @Test func silentConnectionsAreEvictedBeforeOnesThatHaveSpoken() {
        var pool = Self.pool(capacity: 3, perSource: 10)
        for member in 0..<3 { _ = pool.admit(member, from: "10.0.0.\(member)", isReservedSource: false, now: Self.at(Int64(member))) }
        pool.markSpoken(0)
        let fourth = pool.admit(3, from: "10.0.0.9", isReservedSource: false, now: Self.at(3))
        #expect(fourth == .admittedEvicting(1, .poolFull))
        pool.markSpoken(2)
        pool.markSpoken(3)
        let fifth = pool.admit(4, from: "10.0.0.9", isReservedSource: false, now: Self.at(4))
        #expect(fifth == .admittedEvicting(0, .poolFull), "all spoke: the oldest")
    }

    @Test func oneSourceHoldsAtMostItsShareAndMakesRoomFromItsOwn() {
        var pool = Self.pool(capacity: 16, perSource: 4)
        _ = pool.admit(100, from: "192.0.2.1", isReservedSource: false, now: Self.at(0))
        for member in 0..<4 {
            let admission = pool.admit(member, from: "203.0.113.7", isReservedSource: false, now: Self.at(Int64(1 + member)))
            #expect(admission == .admitted)
        }
        for member in 4..<40 {
            let admission = pool.admit(member, from: "203.0.113.7", isReservedSource: false, now: Self.at(Int64(1 + member)))
            #expect(admission == .admittedEvicting(member - 4, .sourceFull))
        }
        #expect(pool.count(from: "203.0.113.7") == 4)
        #expect(pool.contains(100), "another source's connection is never touched")
    }

    /// The attack: four idle connections a second from one host, refilled as they
    /// expire, against a friend dialling from elsewhere. Today's first-come pool refused the
    /// friend; here the friend is always admitted and never evicted before it finishes.
    @Test func anAttackerRefillingIdleConnectionsNeverDisplacesAFriend() {
        var pool = Self.pool()
        var nextMember = 1000
        var friendsAdmitted = 0
        for millisecond in stride(from: Int64(0), to: 60_000, by: 250) {
            let now = Self.at(millisecond)
            for (member, _) in pool.expire(now: now) { #expect(member >= 1000, "a friend expired") }
            nextMember += 1
            if case .admittedEvicting(let victim, _) = pool.admit(nextMember, from: "198.51.100.66", isReservedSource: false, now: now) {
                #expect(victim >= 1000, "a friend was evicted")
            }
            if millisecond % 3000 == 0 {
                let friend = Int(millisecond / 3000)
                if case .admittedEvicting(let victim, _) = pool.admit(friend, from: "192.0.2.10", isReservedSource: false, now: now) {
                    #expect(victim >= 1000)
                }
                pool.markSpoken(friend)
                friendsAdmitted += 1
                let wasPending = pool.remove(friend)
                #expect(wasPending, "the friend's handshake finishes within the same round trip")
            }
        }
        #expect(friendsAdmitted == 20)
        #expect(pool.count(from: "198.51.100.66") <= 4)
    }

    @Test func manySourcesFillingThePoolStillLetANewcomerIn() {
        var pool = Self.pool(capacity: 16, perSource: 4)
        for member in 0..<64 { _ = pool.admit(member, from: "10.0.\(member % 8).1", isReservedSource: false, now: Self.at(Int64(member))) }
        #expect(pool.count == 16)
        let newcomer = pool.admit(1000, from: "192.0.2.10", isReservedSource: false, now: Self.at(64))
        #expect(newcomer == .admittedEvicting(48, .poolFull))
        #expect(pool.contains(1000))
    }

    @Test func reservedSourcesHaveTheirOwnPlacesThatStrangersNeverTake() {
        var pool = Self.pool(capacity: 2, perSource: 2, reserved: 2)
        let redial = pool.admit(1, from: "192.0.2.10", isReservedSource: true, now: Self.at(0))
        #expect(redial == .admitted)
        for member in 10..<30 { _ = pool.admit(member, from: "10.0.0.\(member)", isReservedSource: false, now: Self.at(Int64(member))) }
        #expect(pool.contains(1), "strangers filling the pool do not evict a pinned peer's redial")
        #expect(pool.reservedCount == 1)
        #expect(pool.count == 3)
        let secondRedial = pool.admit(2, from: "192.0.2.10", isReservedSource: true, now: Self.at(40))
        #expect(secondRedial == .admitted)
        // Reserved places full: the third redial competes in the ordinary pool.
        let thirdRedial = pool.admit(3, from: "192.0.2.10", isReservedSource: true, now: Self.at(41))
        #expect(thirdRedial == .admittedEvicting(28, .poolFull))
        #expect(pool.reservedCount == 2)
    }

    @Test func silenceExpiresAtTheFirstMessageDeadlineAndSlownessAtTheHandshakeTimeout() {
        var pool = Self.pool()
        _ = pool.admit(1, from: "a", isReservedSource: false, now: Self.at(0))
        _ = pool.admit(2, from: "b", isReservedSource: false, now: Self.at(0))
        pool.markSpoken(2)
        let expired = [Int64(999), 1_000, 1_000, 4_999].map { pool.expire(now: Self.at($0)).map(\.member) }
        #expect(expired == [[], [1], [], []], "the silent one at 1 s, once")
        let late = pool.expire(now: Self.at(5_000))
        #expect(late.map(\.member) == [2] && late.map(\.expiry) == [.handshakeTimeout])
        #expect(pool.count == 0)
    }

    @Test func aOneBytePerSecondSenderNeverSpeaksAndExpiresAfterOneSecond() {
        var pool = Self.pool()
        _ = pool.admit(1, from: "a", isReservedSource: false, now: Self.at(0))
        // Bytes trickling in do not count: only a whole first message marks the member.
        let expired = pool.expire(now: Self.at(1_000))
        #expect(expired.map(\.expiry) == [.noFirstMessage])
    }

    @Test func removingAndMarkingUnknownMembersIsHarmless() {
        var pool = Self.pool()
        var results = [pool.remove(7), pool.markSpoken(7)]
        _ = pool.admit(7, from: "a", isReservedSource: false, now: Self.at(0))
        results += [pool.markSpoken(7), pool.markSpoken(7), pool.remove(7), pool.remove(7)]
        #expect(results == [false, false, true, false, true, false])
    }
}
