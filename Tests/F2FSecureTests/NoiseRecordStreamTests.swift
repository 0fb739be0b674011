import Crypto
import F2FBase
import Foundation
import Testing

@testable import F2FSecure

/// The record reader and writer on their own, fed the way the packet assembler is: a stream of
/// several records cut at every point, in chunks, with an oversize length and a bad tag.
@Suite struct NoiseRecordStreamTests {
    static let chunkSizes = [1, 2, 3, 7, 4096]

    private func ciphers() -> (send: NoiseCipherState, receive: NoiseCipherState) {
        let key = SymmetricKey(data: (0..<32).map { UInt8($0 * 5 & 0xFF) })
        var send = NoiseCipherState(key: key)
        var receive = NoiseCipherState(key: key)
        send.rekeyInterval = 2
        receive.rekeyInterval = 2
        return (send, receive)
    }

    private func sealedStream(_ plaintexts: [[UInt8]], with cipher: inout NoiseCipherState) throws -> [UInt8] {
        var stream: [UInt8] = []
        for plaintext in plaintexts {
            let record = try plaintext.withUnsafeBytes { (raw) throws(NoiseError) in try NoiseRecordWriter.seal(raw, with: &cipher) }
            #expect(record.count == 2 + plaintext.count + 16)
            record.encode(into: &stream)
        }
        return stream
    }

    /// Feeds `stream` in pieces cut at `cuts`, opening every record that completes.
    private func open(_ stream: [UInt8], cuts: [Int], with cipher: inout NoiseCipherState) throws -> [[UInt8]] {
        let reader = NoiseRecordReader()
        var plaintexts: [[UInt8]] = []
        var start = 0
        for end in cuts + [stream.count] where end >= start {
            let taken = stream[start..<end].withUnsafeBytes { reader.feed($0) }
            #expect(taken == end - start)
            start = end
            while let plaintext = try reader.nextPlaintext(opening: &cipher) { plaintexts.append(Array(plaintext)) }
        }
        #expect(reader.bufferedCount == 0)
        return plaintexts
    }

    private func plaintexts(largest: Int) -> [[UInt8]] {
        var generator = SeededGenerator(seed: UInt64(largest))
        return [
            (0..<largest).map { _ in UInt8.random(in: 0...255, using: &generator) },
            [],
            [0x42],
            (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) },
            (0..<largest).map { _ in UInt8.random(in: 0...255, using: &generator) },
        ]
    }

    @Test func recordsSurviveASplitAtEveryPoint() throws {
        var (send, _) = ciphers()
        let sent = plaintexts(largest: 40)
        let stream = try sealedStream(sent, with: &send)
        for cut in 0...stream.count {
            var (_, receive) = ciphers()
            #expect(try open(stream, cuts: [cut], with: &receive) == sent, "cut at \(cut)")
        }
    }

    @Test(arguments: chunkSizes, [0, NoiseRecordWriter.maximumPlaintextCount])
    func recordsSurviveChunks(chunkSize: Int, largest: Int) throws {
        var (send, receive) = ciphers()
        let sent = plaintexts(largest: largest)
        let stream = try sealedStream(sent, with: &send)
        let cuts = Array(stride(from: chunkSize, to: stream.count, by: chunkSize))
        #expect(try open(stream, cuts: cuts, with: &receive) == sent)
    }

    @Test func aRecordIsLentOnlyOnceAllOfItIsIn() throws {
        let reader = NoiseRecordReader()
        var framed: [UInt8] = []
        NoiseRecordWriter.frame([1, 2, 3, 4, 5], into: &framed)
        #expect(framed == [0, 5, 1, 2, 3, 4, 5])
        for byte in framed.dropLast() {
            [byte].withUnsafeBytes { _ = reader.feed($0) }
            #expect(!reader.hasCompleteRecord)
            #expect(try reader.nextRecord() == nil)
        }
        framed.suffix(1).withUnsafeBytes { _ = reader.feed($0) }
        #expect(reader.hasCompleteRecord)
        let record = try #require(try reader.nextRecord())
        #expect(Array(record) == [1, 2, 3, 4, 5])
        #expect(try reader.nextRecord() == nil)
    }

    @Test func aLengthOverTheLimitIsAnErrorAsSoonAsItsTwoBytesAreIn() throws {
        let reader = NoiseRecordReader(limit: NoiseHandshake.maximumMessageCount)
        [UInt8(0x04)].withUnsafeBytes { _ = reader.feed($0) }
        #expect(try reader.nextRecord() == nil)
        [UInt8(0x01)].withUnsafeBytes { _ = reader.feed($0) }
        #expect(reader.hasCompleteRecord, "reported, so the connection looks at it")
        #expect(throws: NoiseRecordError.oversize(length: 1025, limit: 1024)) { try reader.nextRecord() }
        reader.limit = NoiseRecordReader.maximumRecordCount
        #expect(try reader.nextRecord() == nil, "nothing was consumed: the record is now merely incomplete")
    }

    @Test func theBufferHoldsOneWholeRecordAndTheStartOfTheNext() throws {
        let reader = NoiseRecordReader()
        let full = [UInt8](repeating: 0xFF, count: 2 * (2 + NoiseRecordReader.maximumRecordCount) + 10)
        let taken = full.withUnsafeBytes { reader.feed($0) }
        #expect(taken == 2 * (2 + NoiseRecordReader.maximumRecordCount), "bounded")
        #expect(try reader.nextRecord()?.count == NoiseRecordReader.maximumRecordCount)
        #expect(reader.freeSpace.count == 2 + NoiseRecordReader.maximumRecordCount, "room again once the first is taken")
    }

    @Test func aBadTagIsATypedErrorAndTheNonceDoesNotAdvance() throws {
        var (send, receive) = ciphers()
        var stream = try sealedStream([[1, 2, 3], [4, 5, 6]], with: &send)
        stream[2 + 1] ^= 0x01
        let reader = NoiseRecordReader()
        stream.withUnsafeBytes { _ = reader.feed($0) }
        #expect(throws: NoiseRecordError.unopened(.decryptionFailed)) { try reader.nextPlaintext(opening: &receive) }
        #expect(receive.nonce == 0)
    }

    @Test func aRecordShorterThanItsTagDoesNotOpen() throws {
        var (_, receive) = ciphers()
        let reader = NoiseRecordReader()
        ([0, 3, 1, 2, 3] as [UInt8]).withUnsafeBytes { _ = reader.feed($0) }
        #expect(throws: NoiseRecordError.unopened(.malformedMessage("shorter than its tag"))) { try reader.nextPlaintext(opening: &receive) }
    }

    @Test func sealedPiecesAreTheRecordTheFramingDescribes() throws {
        var (send, receive) = ciphers()
        let plaintext: [UInt8] = Array(0..<100)
        let record = try plaintext.withUnsafeBytes { (raw) throws(NoiseError) in try NoiseRecordWriter.seal(raw, with: &send) }
        #expect(record.length.0 == 0 && record.length.1 == 116)
        var framed: [UInt8] = []
        record.encode(into: &framed)
        #expect(framed.count == record.count)
        let opened = try receive.open(framed[2...], associatedData: [UInt8]())
        #expect(Array(opened) == plaintext)
    }
}
