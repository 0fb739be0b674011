import F2FSwitchNode
import Testing

@Suite struct SwitchNodeSettingsTests {
    /// Port 0 is given only on request; the client ports stay for VDE clients and plugs.
    @Test func peerLinksGetThePortsClientsDoNotKeep() {
        var settings = SwitchNodeSettings()
        #expect(settings.peerPortLimit == 31 - 8)
        settings.clientPorts = 0
        #expect(settings.peerPortLimit == 31)
        // A small switch keeps at least half its ports for peers, whatever --client-ports says.
        settings.numports = 5
        settings.clientPorts = 8
        #expect(settings.peerPortLimit == 2)
    }
}
