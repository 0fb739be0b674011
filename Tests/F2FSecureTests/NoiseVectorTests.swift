import Crypto
import F2FTesting
import Foundation
import Testing

@testable import F2FSecure

/// The cacophony test vector (Fixtures/noise): our XX handshake and transport must produce
/// these bytes exactly, from the same keys.
@Suite struct NoiseVectorTests {
    struct Vector {
        var prologue: [UInt8]
        var initiatorStatic: [UInt8]
        var initiatorEphemeral: [UInt8]
        var responderStatic: [UInt8]
        var responderEphemeral: [UInt8]
        var handshakeHash: [UInt8]?
        var presharedKeys: [[UInt8]]
        var messages: [(payload: [UInt8], ciphertext: [UInt8])]

        static func load(_ name: String = "cacophony-XX_25519_ChaChaPoly_SHA256", protocolName: String = NoiseHandshake.protocolName) throws -> Vector {
            let text = Fixture.text("noise/\(name).json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(json["protocol_name"] as? String == protocolName)
            #expect(json["init_psks"] as? [String] == json["resp_psks"] as? [String])
            func hex(_ key: String) throws -> [UInt8] { Fixture.parseHex(spaced(try #require(json[key] as? String))) }
            let messages = try #require(json["messages"] as? [[String: String]]).map { message in
                (Fixture.parseHex(spaced(message["payload"] ?? "")), Fixture.parseHex(spaced(message["ciphertext"] ?? "")))
            }
            return Vector(
                prologue: try hex("init_prologue"), initiatorStatic: try hex("init_static"),
                initiatorEphemeral: try hex("init_ephemeral"), responderStatic: try hex("resp_static"),
                responderEphemeral: try hex("resp_ephemeral"), handshakeHash: json["handshake_hash"] == nil ? nil : try hex("handshake_hash"),
                presharedKeys: (json["init_psks"] as? [String] ?? []).map { Fixture.parseHex(spaced($0)) }, messages: messages)
        }

        fileprivate static func spaced(_ hex: String) -> String {
            var output = ""
            for (index, character) in hex.enumerated() {
                if index > 0, index % 2 == 0 { output.append(" ") }
                output.append(character)
            }
            return output
        }
    }

    private func key(_ bytes: [UInt8]) throws -> Curve25519.KeyAgreement.PrivateKey {
        try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes)
    }

    @Test func handshakeAndTransportMatchTheVectorByteForByte() throws {
        let vector = try Vector.load()
        #expect(vector.messages.count == 6)
        try check(vector, pskPositions: [])
    }

    /// The psk token and the psk rule for `e` (§9), at the spec's position for XX (psk3).
    @Test func thePSK3VectorMatchesByteForByte() throws {
        let vector = try Vector.load("cacophony-XXpsk3_25519_ChaChaPoly_SHA256", protocolName: NoiseHandshake.protocolName(pskPositions: [3]))
        #expect(vector.presharedKeys.count == 1)
        try check(vector, pskPositions: [3])
    }

    /// psk0, the position `--network-key` uses: no vector has XXpsk0 alone, snow's XXpsk0+psk3
    /// covers it (the key before the first message, then a second one at the end).
    @Test func thePSK0AndPSK3VectorMatchesByteForByte() throws {
        let vector = try Vector.load("snow-XXpsk0+psk3_25519_ChaChaPoly_SHA256", protocolName: NoiseHandshake.protocolName(pskPositions: [0, 3]))
        #expect(vector.presharedKeys.count == 2)
        try check(vector, pskPositions: [0, 3])
    }

    @Test func theNetworkKeyHandshakeIsXXpsk0() {
        #expect(NoiseHandshake.networkKeyProtocolName == "Noise_XXpsk0_25519_ChaChaPoly_SHA256")
    }

    private func check(_ vector: Vector, pskPositions: [Int]) throws {
        let presharedKeys = zip(pskPositions, vector.presharedKeys).map { (position: $0, key: $1) }
        var initiator = NoiseHandshake(
            role: .initiator, localStatic: try key(vector.initiatorStatic), presenting: nil,
            ephemeral: try key(vector.initiatorEphemeral), prologue: vector.prologue, presharedKeys: presharedKeys)
        var responder = NoiseHandshake(
            role: .responder, localStatic: try key(vector.responderStatic), presenting: nil,
            ephemeral: try key(vector.responderEphemeral), prologue: vector.prologue, presharedKeys: presharedKeys)

        for (index, message) in vector.messages.prefix(3).enumerated() {
            let initiatorWrites = index % 2 == 0
            let written = initiatorWrites
                ? try initiator.writeMessage(payload: message.payload)
                : try responder.writeMessage(payload: message.payload)
            #expect(written == message.ciphertext, "handshake message \(index)")
            let read = initiatorWrites ? try responder.readMessage(written) : try initiator.readMessage(written)
            #expect(read == message.payload, "handshake payload \(index)")
        }
        #expect(initiator.isComplete && responder.isComplete)
        #expect(initiator.handshakeHash == responder.handshakeHash)
        if let handshakeHash = vector.handshakeHash {
            #expect(initiator.handshakeHash == handshakeHash)
        }
        #expect(initiator.remoteStatic == IdentityKey(privateKeyBytes: vector.responderStatic)?.id)
        #expect(responder.remoteStatic == IdentityKey(privateKeyBytes: vector.initiatorStatic)?.id)

        var initiatorCiphers = initiator.transportCiphers()
        var responderCiphers = responder.transportCiphers()
        for (index, message) in vector.messages.enumerated().dropFirst(3) {
            // The pattern's next turn continues the alternation: message 3 is the responder's.
            let initiatorSends = index % 2 == 0
            var sealed: [UInt8] = []
            var opened: [UInt8] = []
            if initiatorSends {
                try initiatorCiphers.send.encrypt(message.payload, associatedData: [UInt8](), appendingTo: &sealed)
                try responderCiphers.receive.decrypt(sealed, associatedData: [UInt8](), appendingTo: &opened)
            } else {
                try responderCiphers.send.encrypt(message.payload, associatedData: [UInt8](), appendingTo: &sealed)
                try initiatorCiphers.receive.decrypt(sealed, associatedData: [UInt8](), appendingTo: &opened)
            }
            #expect(sealed == message.ciphertext, "transport message \(index)")
            #expect(opened == message.payload)
        }
    }

    @Test func aReplayedOrReorderedTransportMessageFailsAuthentication() throws {
        var (initiator, responder) = try handshakenPair()
        var first: [UInt8] = []
        var second: [UInt8] = []
        try initiator.send.encrypt([1, 2, 3], associatedData: [UInt8](), appendingTo: &first)
        try initiator.send.encrypt([4, 5, 6], associatedData: [UInt8](), appendingTo: &second)
        var opened: [UInt8] = []
        #expect(throws: NoiseError.decryptionFailed) {
            try responder.receive.decrypt(second, associatedData: [UInt8](), appendingTo: &opened)
        }
        try responder.receive.decrypt(first, associatedData: [UInt8](), appendingTo: &opened)
        #expect(throws: NoiseError.decryptionFailed) {
            try responder.receive.decrypt(first, associatedData: [UInt8](), appendingTo: &opened)
        }
        try responder.receive.decrypt(second, associatedData: [UInt8](), appendingTo: &opened)
        #expect(opened == [1, 2, 3, 4, 5, 6])
    }

    @Test func messagesOutOfTurnAndTruncatedMessagesAreRefused() throws {
        var initiator = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: [])
        var responder = NoiseHandshake(role: .responder, localStatic: IdentityKey().privateKey, prologue: [])
        #expect(throws: NoiseError.outOfOrder) { try responder.writeMessage() }
        #expect(throws: NoiseError.outOfOrder) { try initiator.readMessage([UInt8](repeating: 9, count: 32)) }
        let first = try initiator.writeMessage()
        #expect(throws: NoiseError.self) { try responder.readMessage(Array(first.prefix(31))) }
        var fresh = NoiseHandshake(role: .responder, localStatic: IdentityKey().privateKey, prologue: [])
        _ = try fresh.readMessage(first)
        let second = try fresh.writeMessage()
        // Every truncation of message 2 fails cleanly, and so does any flipped bit in its sealed part.
        for length in 0..<second.count {
            var copy = initiator
            #expect(throws: NoiseError.self) { try copy.readMessage(Array(second.prefix(length))) }
        }
        var flipped = second
        flipped[40] ^= 0x01
        #expect(throws: NoiseError.decryptionFailed) { try initiator.readMessage(flipped) }
    }

    @Test func aDifferentPrologueBreaksTheHandshake() throws {
        var initiator = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: [1])
        var responder = NoiseHandshake(role: .responder, localStatic: IdentityKey().privateKey, prologue: [2])
        _ = try responder.readMessage(try initiator.writeMessage())
        #expect(throws: NoiseError.decryptionFailed) { try initiator.readMessage(try responder.writeMessage()) }
    }

    private func handshakenPair() throws -> (NoiseHandshake.Ciphers, NoiseHandshake.Ciphers) {
        var initiator = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: [])
        var responder = NoiseHandshake(role: .responder, localStatic: IdentityKey().privateKey, prologue: [])
        _ = try responder.readMessage(try initiator.writeMessage())
        _ = try initiator.readMessage(try responder.writeMessage())
        _ = try responder.readMessage(try initiator.writeMessage())
        return (initiator.transportCiphers(), responder.transportCiphers())
    }
}
