import EthernetSwitch
import F2FCore
import F2FSecure
import F2FTesting
import Logging
import SwitchRuntime
import Testing
import VDEServer

@testable import F2FSwitchNode
@testable import F2FTransportTCP

/// `peer/*`, `friend/*` and `limits/print` against a node on virtual time: the dialler dials
/// through a recording connector instead of TCP, so what a command starts is seen at once.
@Suite struct NodeConsoleCommandsTests {
    let loop = ManualEventLoop()
    let node: F2FNode
    let engine: SwitchEngine
    let peerPorts: PeerPorts
    let dialer: PeerDialer
    let friendLinks: FriendLinks
    let console = Console(banner: "test\n")
    let dials = Recorder()
    let me = IdentityKey()
    let vlanLists = PeerVLANLists([:])
    var settings = SwitchNodeSettings()

    final class Recorder {
        var addresses: [String] = []
        var refuse = true
    }

    init() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let loop = loop
        node = F2FNode(nodeID: 1, name: "test", logger: logger) { loop.now }
        engine = SwitchEngine(configuration: SwitchConfiguration(portCount: 8), loop: loop, logger: logger)
        peerPorts = PeerPorts(engine: engine, node: node)
        let dials = dials
        dialer = PeerDialer(node: node, loop: loop, logger: logger) { address throws(ConnectionError) -> any Connection in
            dials.addresses.append("\(address)")
            if dials.refuse { throw .system(errno: 111, operation: "connect \(address)") }
            return ConnectionPair().a
        }
        settings.maxPeers = 7
        settings.portQueue = 32
        let limits = FriendLinks.Limits(
            maxPeers: settings.maxPeers,
            pool: .init(capacity: 4, perSource: 2, reserved: 1, firstMessageTimeout: .seconds(1), handshakeTimeout: .seconds(5)),
            handshakeRate: 10, handshakeBurst: 10, handshakeRatePerSource: 1, handshakeBurstPerSource: 2)
        friendLinks = FriendLinks(identity: me, friends: FriendList(), limits: limits, node: node, loop: loop, logger: logger)
        let server = VDEServer(
            directory: SocketDirectory(path: "/nonexistent/f2f-test", permissions: SocketPermissions()), engine: engine, logger: logger)
        PeerConsoleCommands.register(on: console, node: node, dialer: dialer, peerPorts: peerPorts, friendLinks: friendLinks, udp: nil, vlanLists: vlanLists)
        LimitsConsoleCommands.register(
            on: console, settings: settings, node: node, engine: engine, friendLinks: friendLinks, udp: nil, peerPorts: peerPorts, server: server,
            accept: { AcceptPauses(listener: 2, console: 0, control: 1) }, consoleSessions: { (1, 3) })
    }

    func reply(_ line: String) -> String { console.execute(line: line).text }

    @Test func peerAddDialsAtOnceAndRetriesAfterARefusal() {
        #expect(reply("peer/add 192.0.2.9:7000").hasPrefix("1000 Success"))
        #expect(dials.addresses == ["192.0.2.9:7000"])
        let printed = reply("peer/print")
        #expect(printed.contains("Dial 0001 192.0.2.9:7000 WAITING retry in "))
        #expect(printed.contains("last: connect 192.0.2.9:7000"))
        loop.advance(by: .seconds(2))
        #expect(dials.addresses.count > 1)
        #expect(Set(dials.addresses) == ["192.0.2.9:7000"])
    }

    @Test func peerAddRefusesDuplicatesAndNonsense() {
        #expect(reply("peer/add 192.0.2.9:7000").hasPrefix("1000"))
        #expect(reply("peer/add 192.0.2.9:7000").hasPrefix("1017 File exists"))
        #expect(reply("peer/add nowhere").hasPrefix("1022 Invalid argument"))
        #expect(reply("peer/add 7000").hasPrefix("1022"))  // a port alone names nobody to dial
        #expect(dials.addresses == ["192.0.2.9:7000"])
    }

    @Test func pinnedPeerBecomesAFriend() {
        let friend = IdentityKey().id
        #expect(reply("peer/add \(friend)@192.0.2.9:7000").hasPrefix("1000"))
        #expect(friendLinks.friends.contains(friend))
        #expect(reply("peer/print").contains("Dial 0001 \(friend)@192.0.2.9:7000"))
    }

    /// A friend's list is kept by id before the friend ever links (an rc file sets it so);
    /// bad lists and names nobody answers to change nothing.
    @Test func peerSetVLANsKeepsAFriendsListAndRefusesNonsense() throws {
        let friend = IdentityKey().id
        #expect(reply("peer/setvlans \(friend) 10").hasPrefix("1006 No such device or address"), "not a friend yet")
        #expect(friendLinks.friends.add(friend))
        #expect(reply("peer/setvlans \(friend) 30-40,10,20").hasPrefix("1000 Success"))
        #expect(vlanLists.byFriend[friend] == (try VLANList(parsing: "10,20,30-40")))
        for line in [
            "peer/setvlans \(friend) 0", "peer/setvlans \(friend) 4095", "peer/setvlans \(friend) 1-4095", "peer/setvlans \(friend) 10,,20",
            "peer/setvlans \(friend)", "peer/setvlans", "peer/setvlans \(friend) 10 20", "peer/setvlans somebody 10",
        ] {
            #expect(reply(line).hasPrefix("1022 Invalid argument"), "\(line)")
        }
        #expect(reply("peer/setvlans 3 10").hasPrefix("1006"), "no link 3")
        #expect(vlanLists.byFriend[friend] == (try VLANList(parsing: "10,20,30-40")))
        #expect(reply("peer/setvlans \(friend) all").hasPrefix("1000"))
        #expect(vlanLists.byFriend.isEmpty, "all is the default, not kept")
    }

    @Test func peerDelStopsTheDialling() {
        #expect(reply("peer/add 192.0.2.9:7000").hasPrefix("1000"))
        #expect(reply("peer/del 192.0.2.8:7000").hasPrefix("1006 No such device or address"))
        #expect(reply("peer/del 1").hasPrefix("1000"))
        #expect(!reply("peer/print").contains("Dial"))
        loop.advance(by: .seconds(600))
        #expect(dials.addresses.count == 1)
    }

    @Test func friendsAreAddedListedAndRemoved() {
        let friend = IdentityKey().id
        #expect(reply("friend/print").contains("Self \(me.id)"))
        #expect(reply("friend/add \(friend)").hasPrefix("1000"))
        #expect(reply("friend/add \(friend)").hasPrefix("1017"))
        #expect(reply("friend/print").contains("Friend \(friend) not linked"))
        #expect(reply("friend/add not-an-id").hasPrefix("1022"))
        #expect(reply("friend/del \(friend)").hasPrefix("1000"))
        #expect(reply("friend/del \(friend)").hasPrefix("1006"))
        #expect(!reply("friend/print").contains("Friend "))
    }

    @Test func limitsShowTheSettingsAndWhatUsesThem() {
        let printed = reply("limits/print")
        #expect(printed.contains("\nmax-peers 7 now 0 refused 0\n"))
        #expect(printed.contains("\nconsole-sessions 16 now 1 refused 3\n"))
        #expect(printed.contains("\naccept-paused listen 2 ctl 1 console 0\n"))
        #expect(printed.contains("\nport-queue 32 frames per port;"))
        #expect(printed.contains("\nstrangers-refused 0 handshake-failures 0\n"))
    }
}
