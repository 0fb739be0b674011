import EthernetSwitch
import F2FBase
import F2FTesting
import Testing

@Suite struct BPDUTests {
    static let fixtures = ["stp/kernel-config.hex", "stp/vde-fstp-designated.hex", "stp/vde-fstp-alternate.hex"]

    @Test func kernelConfigurationBPDUParsesToWhatTcpdumpPrinted() throws {
        let frame = Fixture.bytes("stp/kernel-config.hex")
        guard case .configuration(let info) = try BPDU(frame: frame.span) else {
            Issue.record("expected a configuration BPDU")
            return
        }
        // tcpdump: bridge-id 8000.02:66:00:00:02:01.8001, message-age 0.00s, max-age 20.00s,
        // hello-time 2.00s, forwarding-delay 15.00s, root-id 8000.02:66:00:00:02:01, root-pathcost 0, Flags [none]
        #expect(info.flags == [])
        #expect(info.rootID.description == "8000.02:66:00:00:02:01")
        #expect(info.bridgeID.description == "8000.02:66:00:00:02:01")
        #expect(info.portID == 0x8001)
        #expect(info.rootPathCost == 0)
        #expect(info.messageAge.description == "0.00s")
        #expect(info.maxAge.description == "20.00s")
        #expect(info.helloTime.description == "2.00s")
        #expect(info.forwardDelay.description == "15.00s")
    }

    /// vde_switch's FSTP uses the RST frame with little-endian whole seconds; below 256 s those
    /// bytes equal the standard 1/256 s big-endian encoding, so they parse to tcpdump's values.
    @Test func vdeFSTPParsesAsRapidBPDUWithTcpdumpsReading() throws {
        let frame = Fixture.bytes("stp/vde-fstp-designated.hex")
        guard case .rapid(let info, let version) = try BPDU(frame: frame.span) else {
            Issue.record("expected an RST BPDU")
            return
        }
        #expect(version == 2)
        // tcpdump: Flags [Learn, Forward, Agreement] (vde_switch sets agreement in periodic hellos).
        #expect(info.flags == [.learning, .forwarding, .agreement, BPDUFlags(rawValue: 0x0C)])
        #expect(info.role == .designated)
        #expect(info.rootID.description == "8000.02:66:00:00:00:11")
        #expect(info.maxAge.description == "40.00s")
        #expect(info.helloTime.description == "4.00s")
        #expect(info.forwardDelay.description == "0.00s")

        guard case .rapid(let alternate, _) = try BPDU(frame: Fixture.bytes("stp/vde-fstp-alternate.hex").span) else {
            Issue.record("expected an RST BPDU")
            return
        }
        // tcpdump: Flags [Learn, Forward, Agreement], root-pathcost 20000000, port-role Alternate
        // (vde_switch means "root port" by that value: its role bits are non-standard).
        #expect(alternate.flags.contains([.learning, .forwarding, .agreement]))
        #expect(alternate.rootPathCost == 20_000_000)
        #expect(alternate.role == .alternateOrBackup)
        #expect(alternate.bridgeID.description == "8000.02:66:00:00:00:12")
    }

    @Test(arguments: fixtures)
    func reencodesByteExact(_ name: String) throws {
        let frame = Fixture.bytes(name)
        let bpdu = try BPDU(frame: frame.span)
        var encoded: [UInt8] = []
        bpdu.encodeFrame(source: MACAddress(rawValue: frame.span.bigEndianUInt48(at: 6)), into: &encoded)
        #expect(encoded == frame)
    }

    /// The codec shape of the other wire types: the BPDU octets after the LLC header parse with
    /// init(parsing:), and encode(into:) writes exactly encodedCount of them back.
    @Test(arguments: fixtures)
    func bodyRoundTripsThroughTheCodecShape(_ name: String) throws {
        let frame = Fixture.bytes(name)
        let length = Int(frame.span.bigEndianUInt16(at: 12))
        let body = Array(frame[17..<(14 + length)])
        let bpdu = try BPDU(parsing: body.span)
        #expect(bpdu == (try BPDU(frame: frame.span)))
        var encoded: [UInt8] = []
        bpdu.encode(into: &encoded)
        #expect(encoded.count == bpdu.encodedCount)
        #expect(encoded == Array(body.prefix(bpdu.encodedCount)))
    }

    @Test(arguments: fixtures)
    func everyTruncatedPrefixThrows(_ name: String) {
        let frame = Fixture.bytes(name)
        for length in 0..<frame.count {
            let prefix = Array(frame.prefix(length))
            #expect(throws: WireError.self) { try BPDU(frame: prefix.span) }
        }
    }

    @Test func topologyChangeNotificationRoundTrip() throws {
        var frame: [UInt8] = []
        BPDU.topologyChangeNotification.encodeFrame(source: MACAddress(parsing: "02:00:00:00:00:01")!, into: &frame)
        #expect(frame.count == 21)
        #expect(Array(frame[12...]) == [0x00, 0x07, 0x42, 0x42, 0x03, 0x00, 0x00, 0x00, 0x80])
        #expect(try BPDU(frame: frame.span) == .topologyChangeNotification)
    }

    @Test func paddingAfterTheLengthIsIgnoredAndNewerVersionsAreRapid() throws {
        var frame = Fixture.bytes("stp/vde-fstp-designated.hex")
        frame += [UInt8](repeating: 0, count: 7)  // padded to 60
        frame[19] = 3  // a future version is treated as the highest we implement (9.3.4)
        guard case .rapid(_, let version) = try BPDU(frame: frame.span) else {
            Issue.record("expected an RST BPDU")
            return
        }
        #expect(version == 3)
    }

    @Test func rejectsEachBadField() {
        let good = Fixture.bytes("stp/kernel-config.hex")
        func mutated(_ offset: Int, _ value: UInt8) -> [UInt8] {
            var bytes = good
            bytes[offset] = value
            return bytes
        }
        #expect(throws: WireError.invalidField(name: "destination", value: 0x0180_C200_0001)) { try BPDU(frame: mutated(5, 1).span) }
        #expect(throws: WireError.invalidField(name: "LLC", value: 0xAA)) { try BPDU(frame: mutated(14, 0xAA).span) }
        #expect(throws: WireError.invalidField(name: "protocol id", value: 1)) { try BPDU(frame: mutated(18, 1).span) }
        #expect(throws: WireError.invalidField(name: "BPDU type", value: 0x42)) { try BPDU(frame: mutated(20, 0x42).span) }
        // An RST type with version 0 is not a valid BPDU.
        #expect(throws: WireError.invalidField(name: "BPDU type", value: 2)) { try BPDU(frame: mutated(20, 2).span) }
        // An 802.3 length that claims more than the frame holds.
        #expect(throws: WireError.self) { try BPDU(frame: mutated(13, 0x40).span) }
        // An EtherType (> 1500) instead of a length.
        #expect(throws: WireError.invalidField(name: "802.3 length", value: 0x0800)) {
            var bytes = good
            bytes[12] = 0x08
            bytes[13] = 0x00
            _ = try BPDU(frame: bytes.span)
        }
    }

    @Test func randomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 0xB0D0)
        let good = Fixture.bytes("stp/kernel-config.hex")
        for round in 0..<10_000 {
            var bytes = good
            if round % 3 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    bytes[Int.random(in: 12..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            _ = try? BPDU(frame: bytes.span)
        }
    }

    @Test func rolesAndTimers() {
        var info = BPDUInfo(
            flags: [.proposal], rootID: BridgeID(priority: 0x8000, address: .broadcast), rootPathCost: 4,
            bridgeID: BridgeID(priority: 0x1000, address: .broadcast), portID: 0x8003,
            messageAge: BPDUTime(seconds: 1), maxAge: BPDUTime(seconds: 20), helloTime: BPDUTime(seconds: 2), forwardDelay: BPDUTime(seconds: 15))
        info.setRole(.root)
        #expect(info.role == .root)
        #expect(info.flags.contains(.proposal))
        #expect(info.forwardDelay.duration == .seconds(15))
        #expect(BridgeID(priority: 0x1000, address: .broadcast) < BridgeID(priority: 0x8000, address: MACAddress(rawValue: 1)))
    }
}
