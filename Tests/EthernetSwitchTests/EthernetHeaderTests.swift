import EthernetSwitch
import F2FBase
import F2FTesting
import Testing

@Suite struct MACAddressTests {
    @Test func parsesAndFormats() throws {
        let address = try #require(MACAddress(parsing: "52:54:00:12:34:0a"))
        #expect(address.rawValue == 0x5254_0012_340A)
        #expect(address.description == "52:54:00:12:34:0a")
        #expect(MACAddress(parsing: "52-54-00-12-34-0A") == address)
        #expect(!address.isMulticast)
    }

    @Test(arguments: ["", "52:54:00:12:34", "52:54:00:12:34:56:78", "52:54:00:12:34:zz", "525:4:00:12:34:56", "52:54::12:34:56"])
    func rejectsMalformedText(_ text: String) {
        #expect(MACAddress(parsing: text) == nil)
    }

    @Test func groupBit() {
        #expect(MACAddress.broadcast.isMulticast)
        #expect(MACAddress.bridgeGroup.isMulticast)
        #expect(MACAddress(parsing: "33:33:00:00:00:01")!.isMulticast)
        #expect(!MACAddress(parsing: "02:00:00:00:00:01")!.isMulticast)
    }
}

@Suite struct EthernetHeaderTests {
    @Test func parsesUntagged8023Frame() throws {
        let frame = Fixture.bytes("ethernet/bpdu-kernel-8023.hex")
        let header = try EthernetHeader(parsing: frame.span)
        #expect(header.destination == .bridgeGroup)
        #expect(header.source == MACAddress(parsing: "f6:74:4a:26:22:e9"))
        #expect(header.etherType == 0x0026)  // an 802.3 length, kept as is
        #expect(!header.isTagged)
        #expect(header.vlanID == 0)
        var encoded: [UInt8] = []
        header.encode(into: &encoded)
        #expect(encoded == Array(frame.prefix(header.encodedCount)))
    }

    @Test func parsesTaggedFrame() throws {
        let frame = Fixture.bytes("ethernet/arp-vlan-tagged.hex")
        let header = try EthernetHeader(parsing: frame.span)
        #expect(header.destination == .broadcast)
        #expect(header.isTagged)
        #expect(header.vlanID == 42)
        #expect(header.etherType == 0x0806)
        var encoded: [UInt8] = []
        header.encode(into: &encoded)
        // Re-encoding writes PCP 0: compare all but the priority bits.
        #expect(encoded.count == 18)
        #expect(encoded[..<14] == frame[..<14])
        #expect(encoded[15] == frame[15])
        #expect(encoded[16...] == frame[16..<18])
    }

    @Test func everyTruncatedPrefixThrows() {
        for fixture in ["ethernet/bpdu-kernel-8023.hex", "ethernet/arp-vlan-tagged.hex"] {
            let frame = Fixture.bytes(fixture)
            let header = try? EthernetHeader(parsing: frame.span)
            let needed = header?.encodedCount ?? 0
            for length in 0..<needed {
                let prefix = Array(frame.prefix(length))
                #expect(throws: WireError.self) { try EthernetHeader(parsing: prefix.span) }
            }
        }
    }

    @Test func randomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 0xE7E7)
        var parsed = 0
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...40, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if count >= 14, Bool.random(using: &generator) { bytes[12] = 0x81; bytes[13] = 0x00 }
            if let header = try? EthernetHeader(parsing: bytes.span) {
                parsed += 1
                #expect(header.vlanID < 4096)
            }
        }
        #expect(parsed > 5_000)
    }
}
