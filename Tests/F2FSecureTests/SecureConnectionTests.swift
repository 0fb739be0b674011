import F2FBase
import F2FCore
import F2FTesting
import Testing

@testable import F2FSecure

@Suite struct SecureConnectionTests {
    @Test func friendsAuthenticateEachOtherAndCarryDataBothWays() {
        let link = SecureLinkHarness()
        link.connect()
        #expect(link.aliceEnd.established && link.bobEnd.established)
        #expect(link.initiator.remoteID == link.bob.id)
        #expect(link.responder.remoteID == link.alice.id)

        var generator = SeededGenerator(seed: 7)
        let toBob = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let toAlice = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        link.aliceEnd.send(toBob, on: link.initiator)
        link.bobEnd.send(toAlice, on: link.responder)
        link.pump()
        #expect(link.bobEnd.received == toBob)
        #expect(link.aliceEnd.received == toAlice)
        // 200 000 bytes need at least four records of at most 65 519.
        #expect(link.initiator.counters.recordsOut >= 4)
        #expect(link.responder.counters.recordsIn == link.initiator.counters.recordsOut)
    }

    @Test func nothingOnTheWireIsPlaintext() {
        let link = SecureLinkHarness()
        link.connect()
        let marker = Array("f2f-plaintext-marker-0123456789".utf8)
        link.aliceEnd.send(marker + marker, on: link.initiator)
        link.pump()
        #expect(link.bobEnd.received == marker + marker)
        #expect(!contains(link.pair.a.written, marker))
        // Nor are the ids: XX sends static keys encrypted.
        #expect(!contains(link.pair.a.written, link.alice.id.bytes))
        #expect(!contains(link.pair.b.written, link.bob.id.bytes))
    }

    @Test func theResponderRefusesAStrangerAndLogsItsID() {
        let stranger = SecureLinkHarness(bobFriends: [])
        stranger.connect()
        #expect(!stranger.bobEnd.established)
        #expect(stranger.bobEnd.authorizedIDs == [stranger.alice.id])
        let error = stranger.bobEnd.closedError ?? nil
        #expect(error?.kind == "refused")
        #expect(error?.description.contains("refused \(stranger.alice.id)") == true)
        #expect(stranger.pair.b.isClosed)
        // The stranger's side sees the link end before any frame could flow.
        #expect(stranger.aliceEnd.received.isEmpty)
    }

    @Test func theInitiatorRefusesAResponderThatIsNotTheFriendItExpects() {
        let link = SecureLinkHarness(aliceFriends: [])
        link.connect()
        #expect(!link.aliceEnd.established && !link.bobEnd.established)
        #expect(link.aliceEnd.authorizedIDs == [link.bob.id])
        // Alice stops before message 3: Bob never learns who dialled him.
        #expect(link.responder.remoteID == nil)
        #expect(link.bobEnd.authorizedIDs.isEmpty)
        #expect(link.pair.a.isClosed)
    }

    @Test func anImpostorPresentingAFriendsIDWithoutItsKeyIsRefused() throws {
        let link = SecureLinkHarness()
        let attacker = IdentityKey()
        var impostor = NoiseHandshake(
            role: .initiator, localStatic: attacker.privateKey, presenting: link.alice.id.bytes,
            ephemeral: nil, prologue: SecureConnection.prologue)
        try send(record: try impostor.writeMessage(), on: link.pair.a)
        link.pump()
        let second = try #require(try readRecord(from: link.pair.a))
        _ = try impostor.readMessage(second)
        try send(record: try impostor.writeMessage(), on: link.pair.a)
        link.pump()
        #expect(!link.bobEnd.established)
        #expect(link.bobEnd.authorizedIDs.isEmpty)
        #expect(link.bobEnd.closedError??.kind == "authenticationFailed")
        #expect(link.pair.b.isClosed)
    }

    @Test func tamperedCiphertextClosesTheLinkAndDeliversNothingOfIt() {
        let link = SecureLinkHarness()
        link.connect()
        let handshakeBytes = link.pair.a.written.count
        link.pair.a.transform = { offset, byte in offset == handshakeBytes + 10 ? byte ^ 0x40 : byte }
        link.aliceEnd.send(Array(repeating: 0x55, count: 100), on: link.initiator)
        link.pump()
        #expect(link.bobEnd.received.isEmpty)
        #expect(link.bobEnd.readError?.kind == "authenticationFailed")
        #expect(link.responder.counters.authenticationFailures == 1)
    }

    @Test func aReplayedRecordClosesTheLink() throws {
        let link = SecureLinkHarness()
        link.connect()
        let start = link.pair.a.written.count
        link.aliceEnd.send([1, 2, 3], on: link.initiator)
        link.pump()
        #expect(link.bobEnd.received == [1, 2, 3])
        let record = Array(link.pair.a.written[start...])
        _ = try record.withUnsafeBytes { (bytes) throws(ConnectionError) in try link.pair.a.write(bytes) }
        link.pump()
        #expect(link.bobEnd.received == [1, 2, 3])
        #expect(link.bobEnd.readError?.kind == "authenticationFailed")
    }

    @Test func garbageOrAnOversizedFirstMessageEndsTheHandshake() throws {
        for garbage: [UInt8] in [[0xFF, 0xFF] + Array(repeating: 0, count: 64), [0, 5, 1, 2, 3, 4, 5], [0, 0]] {
            let link = SecureLinkHarness()
            _ = try garbage.withUnsafeBytes { (bytes) throws(ConnectionError) in try link.pair.a.write(bytes) }
            link.pump()
            #expect(!link.bobEnd.established)
            #expect(link.bobEnd.closedError??.kind == "protocolViolation", "garbage \(garbage.prefix(8))")
            #expect(link.pair.b.isClosed)
        }
    }

    @Test func theOtherSideClosingMidHandshakeIsReported() {
        let link = SecureLinkHarness()
        link.pair.a.close()
        link.pump()
        #expect(link.bobEnd.closedError??.kind == "closedByPeer")
        #expect(!link.bobEnd.established)
    }

    // MARK: Helpers

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    private func send(record: [UInt8], on connection: PairedConnection) throws {
        let framed = [UInt8(record.count >> 8), UInt8(record.count & 0xFF)] + record
        _ = try framed.withUnsafeBytes { (bytes) throws(ConnectionError) in try connection.write(bytes) }
    }

    private func readRecord(from connection: PairedConnection) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let result = try buffer.withUnsafeMutableBytes { (raw) throws(ConnectionError) in try connection.read(into: raw) }
        guard case .bytes(let count) = result, count >= 2 else { return nil }
        let length = Int(buffer[0]) << 8 | Int(buffer[1])
        return count >= 2 + length ? Array(buffer[2..<(2 + length)]) : nil
    }
}
