import F2FBase
import F2FCore
import F2FTesting
import Testing

@Suite struct F2FPacketHeaderTests {
    @Test func parsesAndEncodesAKnownHeaderByteForByte() throws {
        // type ethernet-frame, payload 1500 bytes (big-endian 0x05DC)
        let bytes: [UInt8] = [0x10, 0x05, 0xDC]
        let header = try F2FPacketHeader(parsing: bytes.span)
        #expect(header.type == .ethernetFrame)
        #expect(header.payloadCount == 1500)
        var encoded: [UInt8] = []
        header.encode(into: &encoded)
        #expect(encoded == bytes)
        #expect(encoded.count == F2FPacketHeader.encodedCount)
    }

    @Test(arguments: [
        (UInt8(0x01), 0, [UInt8(0x01), 0x00, 0x00]),
        (UInt8(0x02), 1, [UInt8(0x02), 0x00, 0x01]),
        (UInt8(0x0F), 0x0100, [UInt8(0x0F), 0x01, 0x00]),
        (UInt8(0xFF), 65_535, [UInt8(0xFF), 0xFF, 0xFF]),
    ])
    func roundTripsExtremes(type: UInt8, payloadCount: Int, bytes: [UInt8]) throws {
        let header = F2FPacketHeader(type: F2FPacketType(rawValue: type), payloadCount: payloadCount)
        var encoded: [UInt8] = []
        header.encode(into: &encoded)
        #expect(encoded == bytes)
        #expect(try F2FPacketHeader(parsing: encoded.span) == header)
    }

    @Test func encodingAppendsToExistingBytes() {
        var bytes: [UInt8] = [0xAA]
        F2FPacketHeader(type: .keepalive, payloadCount: 0).encode(into: &bytes)
        #expect(bytes == [0xAA, 0x02, 0x00, 0x00])
    }

    @Test func everyTruncatedPrefixThrows() {
        let bytes: [UInt8] = [0x10, 0x05, 0xDC]
        for count in 0..<bytes.count {
            let prefix = Array(bytes.prefix(count))
            #expect(throws: WireError.truncated(needed: 3, available: count)) {
                _ = try F2FPacketHeader(parsing: prefix.span)
            }
        }
    }

    @Test func trailingBytesAreLeftAlone() throws {
        let bytes: [UInt8] = [0x02, 0x00, 0x00, 0xAA, 0xBB]
        #expect(try F2FPacketHeader(parsing: bytes.span) == F2FPacketHeader(type: .keepalive, payloadCount: 0))
    }

    @Test func tenThousandRandomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 0xF2F_0001)
        var parsed = 0
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...6, using: &generator)
            let bytes = PacketBytes.random(count: count, using: &generator)
            do {
                let header = try F2FPacketHeader(parsing: bytes.span)
                parsed += 1
                var encoded: [UInt8] = []
                header.encode(into: &encoded)
                #expect(encoded == Array(bytes.prefix(3)))
            } catch {
                #expect(error == .truncated(needed: 3, available: count))
            }
        }
        #expect(parsed > 5_000)  // most buffers are long enough: the loop really parsed
    }

    @Test func packetTypesHaveReadableNames() {
        #expect(F2FPacketType.hello.description == "hello")
        #expect(F2FPacketType.keepalive.description == "keepalive")
        #expect(F2FPacketType.reject.description == "reject")
        #expect(F2FPacketType.bpdu.description == "bpdu")
        #expect(F2FPacketType.ethernetFrame.description == "ethernet-frame")
        #expect(F2FPacketType(rawValue: 0x42).description == "type-0x42")
    }
}

@Suite struct HelloTests {
    /// magic "F2FS", version 1, node id 0x0102030405060708, name "alpha"
    static let fixture: [UInt8] = [
        0x46, 0x32, 0x46, 0x53,  // magic "F2FS"
        0x01,  // version
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // node id, big-endian
        0x61, 0x6C, 0x70, 0x68, 0x61,  // name "alpha", to the end of the payload
    ]

    @Test func fixtureParsesToTheExpectedValue() throws {
        let hello = try Hello(parsing: Self.fixture.span)
        #expect(hello.version == 1)
        #expect(hello.nodeID == 0x0102_0304_0506_0708)
        #expect(hello.name == "alpha")
        #expect(hello == Hello(nodeID: 0x0102_0304_0506_0708, name: "alpha"))
    }

    @Test func encodingReproducesTheFixture() {
        var bytes: [UInt8] = []
        Hello(nodeID: 0x0102_0304_0506_0708, name: "alpha").encode(into: &bytes)
        #expect(bytes == Self.fixture)
    }

    @Test(arguments: [
        (UInt64(0), ""),
        (UInt64(1), "a"),
        (UInt64.max, "node with spaces"),
        (UInt64(0x8000_0000_0000_0001), "ünïcødé ☃"),
        (UInt64(42), String(repeating: "n", count: 64)),
    ])
    func roundTrips(nodeID: UInt64, name: String) throws {
        let hello = Hello(nodeID: nodeID, name: name)
        var bytes: [UInt8] = []
        hello.encode(into: &bytes)
        #expect(bytes.count == 13 + name.utf8.count)
        let parsed = try Hello(parsing: bytes.span)
        #expect(parsed == hello)
        #expect(parsed.name == name)
    }

    @Test func everyPrefixShorterThanTheFixedPartThrows() {
        for count in 0..<13 {
            let prefix = Array(Self.fixture.prefix(count))
            #expect(throws: HelloError.malformed("hello of \(count) bytes")) {
                _ = try Hello(parsing: prefix.span)
            }
        }
    }

    /// The name runs to the end of the packet: the packet length frames it, so a hello cut
    /// inside the name is a hello with a shorter name, never a trap or a read past the end.
    @Test func prefixesCutInsideTheNameCarryTheNamePrefix() throws {
        for count in 13...Self.fixture.count {
            let prefix = Array(Self.fixture.prefix(count))
            let hello = try Hello(parsing: prefix.span)
            #expect(hello.name == String(decoding: Self.fixture[13..<count], as: UTF8.self))
            #expect(hello.nodeID == 0x0102_0304_0506_0708)
        }
    }

    @Test(arguments: 0..<4)
    func badMagicIsNotF2F(index: Int) {
        var bytes = Self.fixture
        bytes[index] ^= 0x20
        #expect(throws: HelloError.notF2F) {
            _ = try Hello(parsing: bytes.span)
        }
    }

    @Test(arguments: [UInt8(0), 2, 0xFF])
    func otherVersionsAreAMismatch(version: UInt8) {
        var bytes = Self.fixture
        bytes[4] = version
        #expect(throws: HelloError.versionMismatch(theirs: version)) {
            _ = try Hello(parsing: bytes.span)
        }
    }

    @Test func nameOfSixtyFourBytesIsAcceptedAndSixtyFiveRefused() throws {
        let longest = helloPayload(name: Array(repeating: 0x6E, count: 64))
        #expect(try Hello(parsing: longest.span).name.utf8.count == 64)
        let tooLong = helloPayload(name: Array(repeating: 0x6E, count: 65))
        #expect(throws: HelloError.malformed("name longer than 64 bytes")) {
            _ = try Hello(parsing: tooLong.span)
        }
    }

    /// Repairing invalid UTF-8 (U+FFFD, 3 bytes each) could make a 64-byte name re-encode to
    /// 192 bytes, a hello the parser itself refuses (fuzzing found it): refuse it instead.
    @Test func invalidUTF8InTheNameIsRefusedNotRepaired() throws {
        let bytes = helloPayload(name: [0x61, 0xFF, 0xC3])
        #expect(throws: HelloError.malformed("name is not UTF-8")) {
            _ = try Hello(parsing: bytes.span)
        }
        #expect(try Hello(parsing: helloPayload(name: Array("zürich".utf8)).span).name == "zürich")
    }

    @Test func longNamesAreCutToSixtyFourBytes() {
        let hello = Hello(nodeID: 1, name: String(repeating: "n", count: 100))
        #expect(hello.name == String(repeating: "n", count: 64))
    }

    /// Regression: a name cut inside a multi-byte character gained a 3-byte U+FFFD and became
    /// 66 bytes, so the node's own hello was refused by every peer as "name longer than 64 bytes".
    @Test
    func longNamesAreCutOnACharacterBoundary() throws {
        let hello = Hello(nodeID: 1, name: String(repeating: "a", count: 63) + "é")
        #expect(hello.name.utf8.count <= Hello.maximumNameCount)
        var bytes: [UInt8] = []
        hello.encode(into: &bytes)
        let parsed = try Hello(parsing: bytes.span)
        #expect(parsed == hello)
        #expect(parsed.name == String(repeating: "a", count: 63))
    }

    @Test func errorsReadAsSentences() {
        #expect(HelloError.notF2F.description == "not an F2F peer (bad magic)")
        #expect(HelloError.versionMismatch(theirs: 2).description == "protocol version mismatch: theirs 2, ours 1")
        #expect(HelloError.malformed("hello of 5 bytes").description == "malformed hello: hello of 5 bytes")
        #expect(HelloError.unexpectedPacket(.ethernetFrame).description == "expected hello, got ethernet-frame")
    }

    @Test func tenThousandRandomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 0xF2F_0002)
        var outcomes = (parsed: 0, notF2F: 0, version: 0, malformed: 0)
        for round in 0..<10_000 {
            let count = Int.random(in: 0...90, using: &generator)
            var bytes = PacketBytes.random(count: count, using: &generator)
            // Half of the buffers carry the magic and a quarter the version too, so the checks
            // past the magic run as well.
            let forced = round % 4 == 0 ? Hello.magic + [Hello.currentVersion] : round % 2 == 0 ? Hello.magic : []
            for (index, byte) in forced.enumerated() where index < bytes.count {
                bytes[index] = byte
            }
            do {
                let hello = try Hello(parsing: bytes.span)
                outcomes.parsed += 1
                #expect(bytes.count >= 13 && bytes.count <= 13 + 64)
                #expect(Array(bytes.prefix(4)) == Hello.magic)
                #expect(hello.version == Hello.currentVersion)
                // Where the name is valid UTF-8 the hello re-encodes to the same bytes.
                if String(validating: bytes[13...], as: UTF8.self) != nil {
                    var encoded: [UInt8] = []
                    hello.encode(into: &encoded)
                    #expect(encoded == bytes)
                }
            } catch {
                switch error {
                case .notF2F: outcomes.notF2F += 1
                case .versionMismatch: outcomes.version += 1
                case .malformed: outcomes.malformed += 1
                case .unexpectedPacket: Issue.record("parsing never reports a packet type")
                }
            }
        }
        // Every outcome was reached, so the random inputs exercised every check.
        #expect(outcomes.parsed > 0)
        #expect(outcomes.notF2F > 0)
        #expect(outcomes.version > 0)
        #expect(outcomes.malformed > 0)
        #expect(outcomes.parsed + outcomes.notF2F + outcomes.version + outcomes.malformed == 10_000)
    }
}
