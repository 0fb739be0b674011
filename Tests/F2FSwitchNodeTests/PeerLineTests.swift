import F2FSecure
import F2FSwitchNode
import Testing

/// `--peer` and `peer/add` arguments: an address, optionally pinned to the friend who must answer.
@Suite struct PeerLineTests {
    @Test func addressWithoutPin() throws {
        let line = try #require(PeerLine(parsing: "192.0.2.7:4000"))
        #expect(line.address.host == "192.0.2.7")
        #expect(line.address.port == 4000)
        #expect(line.pinnedID == nil)
    }

    @Test func pinnedAddress() throws {
        let id = IdentityKey().id
        let line = try #require(PeerLine(parsing: "\(id)@[2001:db8::1]:4000"))
        #expect(line.pinnedID == id)
        #expect(line.address.port == 4000)
    }

    @Test(arguments: ["4000", "host", "nonsense@host:4000", "@host:4000", "host:99999", ""])
    func refused(_ text: String) {
        #expect(PeerLine(parsing: text) == nil)
    }
}
