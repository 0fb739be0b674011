import Testing

@testable import SwitchRuntime

/// The engine's 802.1Q rewrites: a tag inserted after the addresses or removed, byte-exact,
/// each slot its own buffer.
@Suite struct VLANScratchTests {
    let untagged: [UInt8] = Array(1...12) + [0x08, 0x00] + Array(repeating: 0xAB, count: 46)

    @Test func insertsAndRemovesTheTag() throws {
        let scratch = VLANScratch(slots: 2, slotSize: 100)
        let tagged = try untagged.withUnsafeBytes { frame in
            Array(try #require(scratch.rewrite(frame, slot: 0, tagging: 0x0ABC)))
        }
        #expect(tagged == Array(1...12) + [0x81, 0x00, 0x0A, 0xBC, 0x08, 0x00] + Array(repeating: 0xAB, count: 46))
        let stripped = try tagged.withUnsafeBytes { frame in
            Array(try #require(scratch.rewrite(frame, slot: 1, tagging: nil)))
        }
        #expect(stripped == untagged)
    }

    @Test func slotsDoNotOverlap() throws {
        let scratch = VLANScratch(slots: 2, slotSize: 100)
        let first = try untagged.withUnsafeBytes { try #require(scratch.rewrite($0, slot: 0, tagging: 10)) }
        let second = try untagged.withUnsafeBytes { try #require(scratch.rewrite($0, slot: 1, tagging: 20)) }
        #expect(first[15] == 10 && second[15] == 20)
    }

    @Test func aFrameTooShortToLoseATagIsRefused() {
        let scratch = VLANScratch(slots: 1, slotSize: 100)
        let short: [UInt8] = Array(1...14)
        #expect(short.withUnsafeBytes { scratch.rewrite($0, slot: 0, tagging: nil) } == nil)
        #expect(short.withUnsafeBytes { scratch.rewrite($0, slot: 0, tagging: 5)?.count } == 18)
    }
}
