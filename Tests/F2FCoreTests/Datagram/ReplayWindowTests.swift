import F2FCore
import Testing

@Suite struct ReplayWindowTests {
    @Test func inOrderCountersAreAcceptedOnceEach() {
        var window = ReplayWindow()
        for counter in UInt64(0)..<10_000 { #expect(window.accept(counter) == .accepted) }
        #expect(window.greatest == 9_999)
        for counter in UInt64(9_990)..<10_000 { #expect(window.accept(counter) == .duplicate) }
    }

    @Test func theWindowIsTheRingLessOneWord() {
        #expect(ReplayWindow(bits: 2048).windowSize == 1984)
        #expect(ReplayWindow(bits: 8192).windowSize == 8128)
        #expect(ReplayWindow(bits: 100).windowSize == 64)
    }

    @Test func reorderingWithinTheWindowIsAccepted() {
        var window = ReplayWindow()
        #expect(window.accept(5000) == .accepted)
        // Everything behind, within the window, in a scrambled order.
        var generatorState: UInt64 = 42
        var pending = Array(UInt64(5000 - 1983)...4999)
        while !pending.isEmpty {
            generatorState = generatorState &* 6364136223846793005 &+ 1442695040888963407
            let index = Int(generatorState >> 33) % pending.count
            #expect(window.accept(pending.remove(at: index)) == .accepted)
        }
        #expect(window.accept(4000) == .duplicate)
        #expect(window.greatest == 5000)
    }

    @Test func tooOldIsJustBehindTheWindow() {
        var window = ReplayWindow()
        window.accept(5000)
        #expect(window.verdict(for: 5000 - 1983) == .accepted)
        #expect(window.verdict(for: 5000 - 1984) == .tooOld)
        #expect(window.accept(0) == .tooOld)
        #expect(window.accept(3016) == .tooOld)
        #expect(window.accept(3017) == .accepted)
        #expect(window.accept(3017) == .duplicate)
    }

    @Test func verdictDoesNotChangeTheWindow() {
        var window = ReplayWindow()
        window.accept(10)
        #expect(window.verdict(for: 11) == .accepted)
        #expect(window.verdict(for: 11) == .accepted)
        #expect(window.greatest == 10)
        #expect(window.verdict(for: 10) == .duplicate)
    }

    @Test func slidingAcrossBitmapWordsClearsStaleBits() {
        // Every counter of one ring's worth is set, then the window slides word by word: a counter
        // sharing a ring slot with an old one must read as new, not as its predecessor's duplicate.
        var window = ReplayWindow(bits: 128)
        for counter in UInt64(0)..<128 { window.accept(counter) }
        #expect(window.accept(128) == .accepted)  // slot of counter 0's word, cleared on the move
        for counter in UInt64(129)..<192 { #expect(window.accept(counter) == .accepted) }
        #expect(window.accept(127) == .tooOld)  // 191 − 127 = 64, the window's width
        #expect(window.accept(128) == .duplicate)
        for lap in 1...50 {
            let base = UInt64(lap) * 128 + 64
            for counter in base..<base + 128 { #expect(window.accept(counter) == .accepted) }
        }
    }

    @Test func aHugeJumpForgetsEverythingBehind() {
        var window = ReplayWindow()
        for counter in UInt64(0)..<100 { window.accept(counter) }
        #expect(window.accept(1_000_000_000) == .accepted)
        #expect(window.accept(50) == .tooOld)
        // Counters in the slots the old ones used are new in the new window.
        #expect(window.accept(1_000_000_000 - 64) == .accepted)
        #expect(window.accept(1_000_000_000 - 1) == .accepted)
        #expect(window.accept(1_000_000_000 - 1) == .duplicate)
        #expect(window.accept(1_000_000_001) == .accepted)
    }

    @Test func aJumpOfExactlyTheRingReusesNoStaleBit() {
        var window = ReplayWindow(bits: 128)
        window.accept(5)
        // 134 lands in counter 5's ring word; that word was cleared, so 133 (bit 5) is new.
        #expect(window.accept(6 + 128) == .accepted)
        #expect(window.accept(5 + 128) == .accepted)
        #expect(window.accept(5 + 100) == .accepted)
        #expect(window.accept(5) == .tooOld)
    }

    @Test func countersNearTheTopDoNotOverflow() {
        var window = ReplayWindow()
        #expect(window.accept(.max - 3) == .accepted)
        #expect(window.accept(.max - 1) == .accepted)
        #expect(window.accept(.max - 2) == .accepted)
        #expect(window.accept(.max - 1) == .duplicate)
        #expect(window.accept(.max) == .accepted)
        #expect(window.accept(.max) == .duplicate)
        #expect(window.accept(0) == .tooOld)
        #expect(window.accept(.max - 1983) == .accepted)
        #expect(window.accept(.max - 1984) == .tooOld)
    }

    @Test func theFirstCounterMayBeAnything() {
        var window = ReplayWindow()
        #expect(window.verdict(for: 0) == .accepted)
        #expect(window.accept(7) == .accepted)
        #expect(window.accept(0) == .accepted)
        #expect(window.accept(0) == .duplicate)
    }

    @Test func resetStartsOver() {
        var window = ReplayWindow()
        window.accept(3)
        window.reset()
        #expect(window.greatest == nil)
        #expect(window.accept(3) == .accepted)
    }
}
