import F2FCore
import F2FTesting
import Testing

@testable import F2FSecure

/// `--network-key`: XXpsk0 between nodes that share a key; a node without it learns nothing.
@Suite struct NetworkKeyTests {
    @Test func nodesWithTheSameKeyLinkAndCarryData() {
        let key = NetworkKey()
        let link = SecureLinkHarness(aliceNetworkKey: key, bobNetworkKey: key)
        link.connect()
        #expect(link.aliceEnd.established && link.bobEnd.established)
        #expect(link.initiator.remoteID == link.bob.id && link.responder.remoteID == link.alice.id)
        link.aliceEnd.send([1, 2, 3], on: link.initiator)
        link.bobEnd.send([4, 5], on: link.responder)
        link.pump()
        #expect(link.bobEnd.received == [1, 2, 3] && link.aliceEnd.received == [4, 5])
    }

    /// The responder checks the first message's tag before it writes anything: a prober
    /// without the key, or with another, never sees a second message, so never the id in it.
    @Test(arguments: [false, true])
    func aProberWithoutTheKeyGetsNoSecondMessage(proberHasAKey: Bool) {
        let link = SecureLinkHarness(aliceNetworkKey: proberHasAKey ? NetworkKey() : nil, bobNetworkKey: NetworkKey())
        link.connect()
        #expect(!link.aliceEnd.established && !link.bobEnd.established)
        #expect(!link.pair.a.written.isEmpty)
        #expect(link.pair.b.written.isEmpty, "the responder wrote \(link.pair.b.written.count) bytes")
        #expect(link.responder.remoteID == nil && link.initiator.remoteID == nil)
        #expect(link.bobEnd.authorizedIDs.isEmpty && link.aliceEnd.authorizedIDs.isEmpty)
        if case .some(let error) = link.bobEnd.closedError { #expect(error?.kind == (proberHasAKey ? "authenticationFailed" : "protocolViolation")) } else { Issue.record("responder not closed") }
    }

    /// The same probe at the Noise level: a plain XX first message, or one under another key,
    /// fails before the responder can write message 2.
    @Test func theResponderRefusesTheFirstMessageOfAProber() throws {
        for proberKey in [nil, NetworkKey()] {
            var prober = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: [], networkKey: proberKey)
            var responder = NoiseHandshake(role: .responder, localStatic: IdentityKey().privateKey, prologue: [], networkKey: NetworkKey())
            let first = try prober.writeMessage()
            #expect(throws: NoiseError.self) { try responder.readMessage(first) }
            #expect(responder.remoteStatic == nil)
        }
    }

    /// Without a network key, XX hands anyone its static key in message 2: what the key fixes.
    @Test func withoutANetworkKeyAProberLearnsTheResponderID() throws {
        let responderKey = IdentityKey()
        var prober = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: [])
        var responder = NoiseHandshake(role: .responder, localStatic: responderKey.privateKey, prologue: [])
        _ = try responder.readMessage(try prober.writeMessage())
        _ = try prober.readMessage(try responder.writeMessage())
        #expect(prober.remoteStatic == responderKey.id)
    }

    /// A dialler with the key that reaches a listener without one learns nothing either: the
    /// listener takes the tag for a payload and answers, but under keys the dialler cannot match.
    @Test func aKeyedDiallerRefusesAnUnkeyedListener() {
        let link = SecureLinkHarness(aliceNetworkKey: NetworkKey(), bobNetworkKey: nil)
        link.connect()
        #expect(!link.aliceEnd.established && !link.bobEnd.established)
        #expect(link.initiator.remoteID == nil)
        #expect(link.aliceEnd.authorizedIDs.isEmpty)
    }

    @Test func keyFilesHoldHexOrBase32() throws {
        let bytes = (0..<32).map { UInt8($0 * 9 & 0xFF) }
        let key = try #require(NetworkKey(bytes: bytes))
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        #expect(NetworkKey(parsing: hex) == key)
        #expect(NetworkKey(parsing: hex.uppercased() + "\r\n") == key)
        #expect(NetworkKey(parsing: "# comment\n  \(key.encoded)  # trailing\n\n") == key)
        #expect(NetworkKey(parsing: key.encoded.uppercased()) == key)
        #expect(NetworkKey(parsing: "") == nil)
        #expect(NetworkKey(parsing: String(hex.dropLast(2))) == nil)
        #expect(NetworkKey(parsing: hex + "00") == nil)
        #expect(NetworkKey(parsing: hex + "\n" + hex) == nil)
        #expect(NetworkKey(parsing: "g" + hex.dropFirst()) == nil)
        #expect(NetworkKey(bytes: [1, 2, 3]) == nil)
        #expect(NetworkKey() != NetworkKey())
    }
}
