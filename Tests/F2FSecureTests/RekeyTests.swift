import Crypto
import F2FCore
import Foundation
import Testing

@testable import F2FSecure

/// Transport keys are replaced every N messages (Noise §11.3), in step on both ends.
@Suite struct RekeyTests {
    private func ciphers() throws -> (NoiseHandshake.Ciphers, NoiseHandshake.Ciphers) {
        var initiator = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: [])
        var responder = NoiseHandshake(role: .responder, localStatic: IdentityKey().privateKey, prologue: [])
        _ = try responder.readMessage(try initiator.writeMessage())
        _ = try initiator.readMessage(try responder.writeMessage())
        _ = try responder.readMessage(try initiator.writeMessage())
        return (initiator.transportCiphers(), responder.transportCiphers())
    }

    @Test func rekeyIsTheFirst32BytesOfEncryptingZerosUnderTheLastNonce() throws {
        let keyBytes = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        var cipher = NoiseCipherState(key: SymmetricKey(data: keyBytes))
        cipher.rekey()
        // ENCRYPT(k, 2^64 − 1, empty, zeros): nonce = 4 zero bytes, then the counter little-endian.
        let maximumNonce = try ChaChaPoly.Nonce(data: [0, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8))
        let sealed = try ChaChaPoly.seal([UInt8](repeating: 0, count: 32), using: SymmetricKey(data: keyBytes), nonce: maximumNonce)
        var expected = NoiseCipherState(key: SymmetricKey(data: sealed.ciphertext.prefix(32)))
        var old = NoiseCipherState(key: SymmetricKey(data: keyBytes))
        var fromRekeyed: [UInt8] = []
        var fromExpected: [UInt8] = []
        var fromOld: [UInt8] = []
        try cipher.encrypt([1, 2, 3], associatedData: [UInt8](), appendingTo: &fromRekeyed)
        try expected.encrypt([1, 2, 3], associatedData: [UInt8](), appendingTo: &fromExpected)
        try old.encrypt([1, 2, 3], associatedData: [UInt8](), appendingTo: &fromOld)
        #expect(fromRekeyed == fromExpected)
        #expect(fromRekeyed != fromOld)
    }

    @Test func bothEndsRekeyInStepAndKeepDecrypting() throws {
        var (initiator, responder) = try ciphers()
        for cipher in [\NoiseHandshake.Ciphers.send, \.receive] {
            initiator[keyPath: cipher].rekeyInterval = 4
            responder[keyPath: cipher].rekeyInterval = 4
        }
        for index in 0..<50 {
            var sealed: [UInt8] = []
            var opened: [UInt8] = []
            if index % 3 == 0 {
                try responder.send.encrypt([UInt8(index)], associatedData: [UInt8](), appendingTo: &sealed)
                try initiator.receive.decrypt(sealed, associatedData: [UInt8](), appendingTo: &opened)
            } else {
                try initiator.send.encrypt([UInt8(index)], associatedData: [UInt8](), appendingTo: &sealed)
                try responder.receive.decrypt(sealed, associatedData: [UInt8](), appendingTo: &opened)
            }
            #expect(opened == [UInt8(index)])
        }
    }

    @Test func aReceiverThatDoesNotRekeyFailsRightAfterTheInterval() throws {
        var (initiator, responder) = try ciphers()
        initiator.send.rekeyInterval = 4
        for index in 0..<4 {
            var sealed: [UInt8] = []
            var opened: [UInt8] = []
            try initiator.send.encrypt([UInt8(index)], associatedData: [UInt8](), appendingTo: &sealed)
            try responder.receive.decrypt(sealed, associatedData: [UInt8](), appendingTo: &opened)
            #expect(opened == [UInt8(index)])
        }
        var sealed: [UInt8] = []
        var opened: [UInt8] = []
        try initiator.send.encrypt([4], associatedData: [UInt8](), appendingTo: &sealed)
        #expect(throws: NoiseError.decryptionFailed) {
            try responder.receive.decrypt(sealed, associatedData: [UInt8](), appendingTo: &opened)
        }
    }

    @Test func aSecureLinkRekeysEveryFewRecordsAndCarriesEveryByte() {
        let link = SecureLinkHarness()
        link.initiator.rekeyInterval = 3
        link.responder.rekeyInterval = 3
        link.connect()
        var toBob: [UInt8] = []
        var toAlice: [UInt8] = []
        for index in 0..<40 {
            // One send, one flush, one record: 40 records each way, 13 rekeys.
            let chunk = [UInt8](repeating: UInt8(index), count: 100 + index)
            link.aliceEnd.send(chunk, on: link.initiator)
            link.bobEnd.send(chunk.reversed(), on: link.responder)
            toBob += chunk
            toAlice += chunk.reversed()
            link.pump()
        }
        #expect(link.initiator.counters.recordsOut == 40)
        #expect(link.bobEnd.received == toBob)
        #expect(link.aliceEnd.received == toAlice)
        #expect(link.bobEnd.readError == nil && link.aliceEnd.readError == nil)
    }

    @Test func aLinkWhoseEndsDisagreeOnRekeyingBreaksAfterTheInterval() {
        let link = SecureLinkHarness()
        link.initiator.rekeyInterval = 3
        link.responder.rekeyInterval = 1 << 20
        link.connect()
        for index in 0..<4 {
            link.aliceEnd.send([UInt8(index)], on: link.initiator)
            link.pump()
        }
        #expect(link.bobEnd.received == [0, 1, 2])
        #expect(link.bobEnd.readError?.kind == "authenticationFailed")
    }
}
