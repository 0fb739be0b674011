import Testing

@testable import F2FSecure

/// The form of an id people copy by hand: Luhn mod 32 check characters catch a typo.
@Suite struct CheckedIDTests {
    @Test func theCheckedFormRoundTripsInEveryAcceptedSpelling() throws {
        for _ in 0..<20 {
            let id = IdentityKey().id
            let checked = id.checkedDescription
            #expect(checked.count == 56 + 7)
            #expect(checked.split(separator: "-").map(\.count) == Array(repeating: 7, count: 8))
            #expect(PeerID(parsing: checked) == id)
            #expect(PeerID(parsing: checked.lowercased()) == id)
            #expect(PeerID(parsing: checked.replacingOccurrences(of: "-", with: "")) == id)
            #expect(PeerID(parsing: id.description) == id, "the 52-character form is still accepted")
            #expect(id.shortDescription == String(checked.prefix(7)))
        }
    }

    @Test func everySingleCharacterTypoIsCaught() throws {
        let id = IdentityKey().id
        let characters = Array(id.checkedDescription)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var tried = 0
        for index in characters.indices where characters[index] != "-" {
            for replacement in alphabet where replacement != characters[index] {
                var typo = characters
                typo[index] = replacement
                #expect(PeerID(parsing: String(typo)) == nil, "typo at \(index): \(String(typo))")
                tried += 1
            }
        }
        #expect(tried == 56 * 31)
    }

    @Test func aSwapOfNeighboursIsCaught() throws {
        let id = IdentityKey().id
        let plain = Array(id.checkedDescription.replacingOccurrences(of: "-", with: ""))
        // Within each run of 13 id characters (the check covers its own run).
        for run in 0..<4 {
            for offset in 0..<12 {
                let index = run * 14 + offset
                guard plain[index] != plain[index + 1] else { continue }
                // Luhn mod 32, like Luhn mod 10 with 0 and 9, cannot see a swap of its first and
                // last symbols (A = 0 and 7 = 31): Syncthing's ids share that blind spot.
                guard Set([plain[index], plain[index + 1]]) != ["A", "7"] else { continue }
                var swapped = plain
                swapped.swapAt(index, index + 1)
                #expect(PeerID(parsing: String(swapped)) == nil)
            }
        }
    }

    @Test func wrongLengthsAndForeignCharactersAreRefused() {
        let checked = IdentityKey().id.checkedDescription
        #expect(PeerID(parsing: String(checked.dropLast())) == nil)
        #expect(PeerID(parsing: checked + "A") == nil)
        #expect(PeerID(parsing: checked.replacingOccurrences(of: "-", with: "_")) == nil)
        #expect(PeerID(parsing: "") == nil)
    }

    @Test func theCheckCharacterMatchesLuhnModNByHand() {
        // "AB": values 0, 1; factors 1, 2 → 0 + 2 = 2; check (32 - 2) % 32 = 30, '6'.
        #expect(CheckedID.checkValue(of: [0, 1]) == 30)
        // "7" (31) doubled is 62 = 1·32 + 30 → 31; with a leading 0: sum 31, check 1.
        #expect(CheckedID.checkValue(of: [0, 31]) == 1)
    }
}
