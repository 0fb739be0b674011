import F2FBase
import Testing

@Suite struct ByteReadingTests {
    @Test func readsBothByteOrders() {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06]
        let span = bytes.span
        #expect(span.bigEndianUInt16(at: 0) == 0x0102)
        #expect(span.littleEndianUInt16(at: 0) == 0x0201)
        #expect(span.bigEndianUInt32(at: 1) == 0x0203_0405)
        #expect(span.littleEndianUInt32(at: 0) == 0x0403_0201)
        #expect(span.bigEndianUInt48(at: 0) == 0x0102_0304_0506)
    }

    @Test func writersInvertReaders() {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(UInt16(0xBEEF))
        bytes.appendLittleEndian(UInt32(0xFEED_FACE))
        bytes.appendBigEndianUInt48(0xAABB_CCDD_EEFF)
        #expect(bytes == [0xBE, 0xEF, 0xCE, 0xFA, 0xED, 0xFE, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])
    }

    @Test func requireCountReportsWhatWasMissing() {
        let bytes: [UInt8] = [1, 2, 3]
        #expect(throws: WireError.truncated(needed: 4, available: 3)) { try bytes.span.requireCount(4) }
        #expect(throws: Never.self) { try bytes.span.requireCount(3) }
    }
}

@Suite struct InstantTests {
    @Test func arithmeticWithDurations() {
        let start = Instant(nanoseconds: 1_000)
        let later = start + .milliseconds(1500)
        #expect(later.nanoseconds == 1_500_001_000)
        #expect(later - start == .milliseconds(1500))
        #expect(later - .seconds(1) > start)
        #expect(Duration.seconds(300).nanoseconds == 300_000_000_000)
        #expect(Duration.milliseconds(2500).wholeSeconds == 2)
    }

    @Test func seededGeneratorIsReproducible() {
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        let a = (0..<8).map { _ in first.next() }
        let b = (0..<8).map { _ in second.next() }
        #expect(a == b)
        #expect(Set(a).count == 8)
    }
}
