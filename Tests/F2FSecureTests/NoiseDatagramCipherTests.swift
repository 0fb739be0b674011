import Crypto
import F2FBase
import F2FCore
import F2FSecure
import Testing

@Suite struct NoiseDatagramCipherTests {
    /// The session's age, in seconds.
    static func at(_ seconds: Int64) -> Duration { .seconds(seconds) }
    static let keyA = SymmetricKey(data: [UInt8](repeating: 0xA1, count: 32))
    static let keyB = SymmetricKey(data: [UInt8](repeating: 0xB2, count: 32))

    /// Our side (index 7) and the peer's (index 9) of one session.
    static func pair(
        limits: NoiseDatagramCipher.Limits = .init(), peerLimits: NoiseDatagramCipher.Limits = .init()
    ) -> (NoiseDatagramCipher, NoiseDatagramCipher) {
        (
            NoiseDatagramCipher(sendKey: keyA, receiveKey: keyB, localIndex: 7, remoteIndex: 9, limits: limits),
            NoiseDatagramCipher(sendKey: keyB, receiveKey: keyA, localIndex: 9, remoteIndex: 7, limits: peerLimits)
        )
    }

    static func seal(_ plaintext: [UInt8], with cipher: inout NoiseDatagramCipher, now: Duration = at(0)) throws -> [UInt8] {
        var datagram: [UInt8] = []
        _ = try cipher.seal(plaintext, into: &datagram, sessionAge: now)
        return datagram
    }

    static func open(_ datagram: [UInt8], with cipher: inout NoiseDatagramCipher, now: Duration = at(0)) -> Result<[UInt8], NoiseDatagramCipher.Rejection> {
        var plaintext: [UInt8] = [0xEE]  // replaced, not appended to
        let result = datagram.withUnsafeBytes { cipher.open($0, plaintext: &plaintext, sessionAge: now) }
        return result.map { _ in plaintext }
    }

    @Test func aDatagramRoundTripsWithItsHeader() throws {
        var (ours, theirs) = Self.pair()
        let frame: [UInt8] = [0x10] + (0..<1514).map { UInt8(truncatingIfNeeded: $0) }
        let first = try Self.seal(frame, with: &ours)
        let second = try Self.seal(frame, with: &ours)
        #expect(first.count == frame.count + NoiseDatagramCipher.overhead)
        #expect(Array(first.prefix(16)) == [4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(second[8..<16]) == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(first.withUnsafeBytes { NoiseDatagramCipher.receiverIndex(of: $0) } == 9)
        #expect(first[16...] != second[16...])  // another nonce, another ciphertext
        #expect(try Self.open(second, with: &theirs).get() == frame)
        #expect(try Self.open(first, with: &theirs).get() == frame)
        #expect(theirs.counters.opened == 2)
        // And the other way.
        let reply = try Self.seal([1, 2, 3], with: &theirs)
        #expect(try Self.open(reply, with: &ours).get() == [1, 2, 3])
        #expect(try Self.open(try Self.seal([], with: &theirs), with: &ours).get() == [])
    }

    @Test func reorderedDatagramsAreAcceptedAndReplaysRejected() throws {
        var (ours, theirs) = Self.pair()
        let datagrams = try (0..<100).map { try Self.seal([UInt8($0)], with: &ours) }
        var generator = SeededGenerator(seed: 15)
        let order = Array(0..<100).shuffled(using: &generator)
        for index in order { #expect(try Self.open(datagrams[index], with: &theirs).get() == [UInt8(index)]) }
        for index in [0, 42, 99] { #expect(Self.open(datagrams[index], with: &theirs) == .failure(.duplicate)) }
        #expect(theirs.counters.duplicates == 3)
        #expect(theirs.counters.opened == 100)
    }

    @Test func datagramsBehindTheWindowAreTooOld() throws {
        var (ours, theirs) = Self.pair()
        let early = try Self.seal([1], with: &ours)
        for _ in 0..<2_100 { _ = try Self.seal([0], with: &ours) }
        let late = try Self.seal([2], with: &ours)
        #expect(try Self.open(late, with: &theirs).get() == [2])
        #expect(Self.open(early, with: &theirs) == .failure(.tooOld))
        #expect(theirs.counters.tooOld == 1)
    }

    @Test func forgedAndModifiedDatagramsAreRejectedAndDoNotMoveTheWindow() throws {
        var (ours, theirs) = Self.pair()
        let genuine = try Self.seal([1, 2, 3, 4], with: &ours)
        // Ciphertext, tag, a reserved header byte (authenticated) and the counter.
        for position in [16, genuine.count - 1, 2, 8] {
            var modified = genuine
            modified[position] ^= 0x01
            #expect(Self.open(modified, with: &theirs) == .failure(.forged))
        }
        // A forged datagram claiming a far counter: had it moved the window, the genuine counter 0
        // would now be too old.
        var far = genuine
        far[15] = 0x10
        #expect(Self.open(far, with: &theirs) == .failure(.forged))
        // One sealed under another key.
        var stranger = NoiseDatagramCipher(
            sendKey: SymmetricKey(data: [UInt8](repeating: 0xCC, count: 32)), receiveKey: Self.keyB, localIndex: 1, remoteIndex: 9)
        #expect(Self.open(try Self.seal([1, 2, 3, 4], with: &stranger), with: &theirs) == .failure(.forged))
        #expect(theirs.counters.forged == 6)
        #expect(try Self.open(genuine, with: &theirs).get() == [1, 2, 3, 4])
    }

    @Test func malformedAndMisaddressedDatagramsCostNoDecryption() throws {
        var (ours, theirs) = Self.pair()
        var datagram = try Self.seal([9], with: &ours)
        #expect(Self.open(Array(datagram.prefix(31)), with: &theirs) == .failure(.malformed))
        #expect(Self.open([], with: &theirs) == .failure(.malformed))
        var wrongType = datagram
        wrongType[0] = 1
        #expect(Self.open(wrongType, with: &theirs) == .failure(.malformed))
        datagram[4] = 10
        #expect(Self.open(datagram, with: &theirs) == .failure(.wrongReceiver))
        #expect(theirs.counters.malformed == 3 && theirs.counters.wrongReceiver == 1 && theirs.counters.forged == 0)
    }

    @Test func theSessionAsksForARekeyAndThenRefuses() throws {
        let limits = NoiseDatagramCipher.Limits(rekeyAfterMessages: 3, rejectAfterMessages: 5)
        var (ours, _) = Self.pair(limits: limits)
        var datagram: [UInt8] = []
        let statuses = try (0..<5).map { _ in try ours.seal([0], into: &datagram, sessionAge: Self.at(0)) }
        #expect(statuses == [.sealed, .sealed, .rekeyDue, .rekeyDue, .rekeyDue])
        #expect(throws: NoiseDatagramCipher.SealError.sessionExpired) { try ours.seal([0], into: &datagram, sessionAge: Self.at(0)) }
        #expect(ours.sendCounter == 5)
    }

    @Test func theSessionAgesOut() throws {
        var (ours, theirs) = Self.pair()
        var datagram: [UInt8] = []
        #expect(try ours.seal([0], into: &datagram, sessionAge: Self.at(119)) == .sealed)
        #expect(try ours.seal([0], into: &datagram, sessionAge: Self.at(120)) == .rekeyDue)
        #expect(try Self.open(datagram, with: &theirs, now: Self.at(179)).get() == [0])
        #expect(throws: NoiseDatagramCipher.SealError.sessionExpired) { try ours.seal([0], into: &datagram, sessionAge: Self.at(180)) }
        let fresh = try Self.seal([1], with: &ours, now: Self.at(1))
        #expect(Self.open(fresh, with: &theirs, now: Self.at(180)) == .failure(.sessionExpired))
    }

    @Test func countersAtTheRejectLimitAreNotOpened() throws {
        var (ours, theirs) = Self.pair(peerLimits: .init(rejectAfterMessages: 2))
        let datagrams = try (0..<3).map { try Self.seal([UInt8($0)], with: &ours) }
        #expect(try Self.open(datagrams[1], with: &theirs).get() == [1])
        #expect(Self.open(datagrams[2], with: &theirs) == .failure(.sessionExpired))
        #expect(theirs.counters.expired == 1)
    }

    /// The wire format is unchanged by the in-place AEAD: a datagram opens with swift-crypto's
    /// `ChaChaPoly` (nonce: 4 zero bytes and the counter little-endian; the header as associated
    /// data), as a switch built before it sealed and opened them.
    @Test func datagramsAreChaChaPolyUnderTheCounterNonce() throws {
        var (ours, _) = Self.pair()
        for _ in 0..<5 { _ = try Self.seal([0], with: &ours) }
        let frame = (0..<1514).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let datagram = try Self.seal(frame, with: &ours)
        let nonce: [UInt8] = [0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
        let box = try ChaChaPoly.SealedBox(
            nonce: ChaChaPoly.Nonce(data: nonce), ciphertext: datagram[16..<datagram.count - 16], tag: datagram[(datagram.count - 16)...])
        #expect(Array(try ChaChaPoly.open(box, using: Self.keyA, authenticating: datagram[0..<16])) == frame)
        // And one sealed by swift-crypto the old way opens here.
        var header: [UInt8] = [4, 0, 0, 0, 7, 0, 0, 0, 0x2A, 0, 0, 0, 0, 0, 0, 0]
        let sealed = try ChaChaPoly.seal(
            frame, using: Self.keyB, nonce: ChaChaPoly.Nonce(data: [0, 0, 0, 0] + header[8..<16]), authenticating: header)
        header += Array(sealed.ciphertext) + Array(sealed.tag)
        #expect(try Self.open(header, with: &ours).get() == frame)
    }

    /// Sealing and opening in the caller's buffer: the header in front, the tag behind, the
    /// plaintext where it was; nothing else is touched.
    @Test func sealAndOpenInPlace() throws {
        var (ours, theirs) = Self.pair()
        let payload: [UInt8] = Array(repeating: 0x5A, count: 100)
        var buffer = [UInt8](repeating: 0xEE, count: 16 + payload.count + 16 + 8)
        buffer.replaceSubrange(16..<116, with: payload)
        let status = try buffer.withUnsafeMutableBytes { (raw) throws(NoiseDatagramCipher.SealError) in
            try ours.seal(inPlace: raw, plaintextCount: payload.count, sessionAge: Self.at(0))
        }
        #expect(status == .sealed)
        #expect(Array(buffer.prefix(16)) == [4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(buffer[16..<116]) != payload)
        #expect(Array(buffer.suffix(8)) == Array(repeating: 0xEE, count: 8))  // past the tag: untouched
        var datagram = Array(buffer.prefix(132))
        // A copy opened through the copying API first, then in place: the second is a replay.
        #expect(try Self.open(datagram, with: &theirs).get() == payload)
        let replay = datagram.withUnsafeMutableBytes { theirs.open(inPlace: $0, sessionAge: Self.at(0)) }
        #expect(replay == .failure(.duplicate))
        var (_, fresh) = Self.pair()
        let opened = datagram.withUnsafeMutableBytes { raw in
            fresh.open(inPlace: raw, sessionAge: Self.at(0)).map { _ in Array(NoiseDatagramCipher.plaintext(of: raw)) }
        }
        #expect(try opened.get() == payload)
    }

    /// Sealing a plaintext that lies elsewhere (the sender's packet) gives the very datagram
    /// sealing it in place gives, and leaves the plaintext as it was.
    @Test(arguments: [0, 1, 63, 1_514, 8_940])
    func sealingFromElsewhereMatchesSealingInPlace(count: Int) throws {
        var generator = SeededGenerator(seed: UInt64(count) + 1)
        let payload = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var (inPlace, theirs) = Self.pair()
        var (copying, _) = Self.pair()
        var expected = [UInt8](repeating: 0, count: 16) + payload + [UInt8](repeating: 0, count: 16)
        _ = try expected.withUnsafeMutableBytes { (raw) throws(NoiseDatagramCipher.SealError) in
            try inPlace.seal(inPlace: raw, plaintextCount: count, sessionAge: Self.at(0))
        }
        var datagram = [UInt8](repeating: 0xEE, count: count + 32 + 4)
        let status = try payload.withUnsafeBytes { source in
            try datagram.withUnsafeMutableBytes { (raw) throws(NoiseDatagramCipher.SealError) in
                try copying.seal(copying: source, into: raw, sessionAge: Self.at(0))
            }
        }
        #expect(status == .sealed)
        #expect(Array(datagram.prefix(count + 32)) == expected)
        #expect(Array(datagram.suffix(4)) == [0xEE, 0xEE, 0xEE, 0xEE], "nothing past the tag")
        #expect(try Self.open(Array(datagram.prefix(count + 32)), with: &theirs).get() == payload)
    }
}
