import EthernetSwitch
import Foundation
import Glibc
import Testing

/// Metrics and capture of a friend link between two real switches: `f2f_peer_up` labelled by
/// the friend's name and short id, and `pcap/start peer NAME` showing a ping that crossed it.
@Suite(.serialized) struct FriendLinkObservabilityTests {
    @Test func aFriendsLinkIsScrapedAndCapturedByName() throws {
        let listen = try TCPPorts.free()
        let metrics = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let near = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(listen)", "--name", "near", "--metrics", String(metrics)] + friends.member(0))
        let far = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: listen), "--name", "far"] + friends.member(1))
        try near.waitForPeers(1)
        try far.waitForPeers(1)
        let farLabels = #"{id="\#(friends.ids[1].prefix(7).uppercased())",peer="far"}"#

        let up = try MetricsProcessTests.parse(try MetricsProcessTests.scrape(port: metrics))
        #expect(try MetricsProcessTests.value(up, "f2f_peer_up" + farLabels) == 1)

        let path = near.workDirectory + "/far.pcap"
        #expect(try near.command("pcap/start peer nobody \(path)").status.hasPrefix("1006 "))
        #expect(try near.command("pcap/start peer far \(path)").status == "1000 Success")
        let a = try TestClient(near.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(far.socketDirectory, mac: "02:00:00:00:00:0b")
        try PacketCaptureProcessTests.ping(a, b)
        #expect(try near.command("pcap/stop peer far").status == "1000 Success")
        let tcpdump = try ChildProcess("tcpdump", ["-n", "-r", path, "icmp"])
        let (status, output) = try tcpdump.finish()
        #expect(status == 0, "\(tcpdump.errorText)")
        #expect(output.contains("10.0.0.1 > 10.0.0.2: ICMP echo request"), "\(output)")
        #expect(output.contains("10.0.0.2 > 10.0.0.1: ICMP echo reply"), "\(output)")

        // The friend goes away: its series stays, at 0, with the name it had.
        try far.stop()
        try waitUntil(timeout: .seconds(15), "near to see far gone") {
            let samples = try MetricsProcessTests.parse(try MetricsProcessTests.scrape(port: metrics))
            return samples["f2f_peer_up" + farLabels] == 0
        }
        try near.stop()
    }
}
