import F2FBase
import F2FSecure
import Foundation
import Glibc
import Testing

/// The UDP handshake under attack (issue 15's last item, built with issue 18's UDP-started
/// links), on a real process: initiations without our mac1 cost one check and get no answer;
/// a stranger who knows our key gets through the handshake and is refused after message 3;
/// under load, initiations get a cookie reply and only the cookie's mac2 gets the handshake.
@Suite(.serialized) struct UDPHandshakeAttackTests {
    /// A UDP socket on loopback talking to `port`.
    /// A counter in a `limits/print` line, -1 when it is missing (so `>=` checks fail).
    static func count(after word: String, in line: String) -> Int { number(after: word, in: line) ?? -1 }

    final class Sender {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let port: UInt16

        init(port: UInt16) {
            self.port = port
            var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(descriptor) }

        func send(_ bytes: [UInt8]) {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(descriptor, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }

        /// The next datagram for us, or nil after 300 ms.
        func receive() -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: 2048)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count > 0 ? Array(buffer[..<count]) : nil
        }
    }

    static func handshakesLine(_ sw: SwitchProcess) throws -> String {
        try sw.command("limits/print").data.first { $0.hasPrefix("udp-handshakes ") } ?? ""
    }

    @Test func initiationsWithoutOurMAC1AreCountedAndNeverAnswered() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 1)
        let sw = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0), logToFile: true)
        defer { _ = try? sw.stop() }
        let sender = Sender(port: port)
        let logLinesBefore = sw.currentLog().split(separator: "\n").count
        var rng = SeededGenerator(seed: 15)
        var sent = 0
        for round in 0..<10 {
            for _ in 0..<50 {
                var datagram = (0..<72).map { _ in UInt8.random(in: 0...255, using: &rng) }
                datagram[0] = round % 2 == 0 ? 1 : 6
                if datagram[0] == 6 { datagram = Array(datagram.prefix(20)) }
                sender.send(datagram)
                sent += 1
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        // A socket buffer may overflow under the burst: most, never more, are counted.
        try waitUntil(timeout: .seconds(5), "\(sent) datagrams counted") { Self.count(after: "bad-mac1", in: try Self.handshakesLine(sw)) >= sent * 9 / 10 }
        #expect(Self.count(after: "bad-mac1", in: try Self.handshakesLine(sw)) <= sent)
        #expect(sender.receive() == nil, "nothing answers a datagram without our mac1")
        let line = try Self.handshakesLine(sw)
        #expect(Self.count(after: "responses", in: line) == 0 && Self.count(after: "cookie-replies", in: line) == 0, "\(line)")
        #expect(sw.currentLog().split(separator: "\n").count == logLinesBefore, "no log line for any of them")
    }

    @Test func aStrangerWhoKnowsOurKeyIsRefusedAfterMessage3() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 1)
        let sw = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        defer { _ = try? sw.stop() }
        let id = try #require(PeerID(parsing: friends.ids[0]))
        var stranger = try DatagramInitiator(identity: IdentityKey(), friend: id, networkKey: nil, localIndex: 7, now: .zero)
        let sender = Sender(port: port)
        sender.send(stranger.initiationDatagram)
        let response = try #require(sender.receive(), "mac1 is right: the switch answers with message 2")
        #expect(response.first == 2)
        let established = try response.withUnsafeBytes { try stranger.receiveResponse($0, now: .zero) }
        sender.send(established.completion)
        try waitUntil(timeout: .seconds(5), "the stranger to be refused") { Self.count(after: "refused", in: try Self.handshakesLine(sw)) == 1 }
        #expect(try sw.establishedPeerCount() == 0)
        #expect(Self.count(after: "established", in: try Self.handshakesLine(sw)) == 0)
    }

    @Test func underLoadOnlyTheCookiesMAC2GetsAHandshake() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 1)
        let sw = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--handshake-rate", "1"] + friends.member(0))
        defer { _ = try? sw.stop() }
        let id = try #require(PeerID(parsing: friends.ids[0]))
        let sender = Sender(port: port)
        // The rate's one token goes to the first initiation.
        let first = try DatagramInitiator(identity: IdentityKey(), friend: id, networkKey: nil, localIndex: 1, now: .zero)
        sender.send(first.initiationDatagram)
        #expect(sender.receive()?.first == 2)
        var second = try DatagramInitiator(identity: IdentityKey(), friend: id, networkKey: nil, localIndex: 2, now: .zero)
        sender.send(second.initiationDatagram)
        let reply = try #require(sender.receive(), "under load: a cookie reply")
        #expect(reply.first == 3 && reply.count < second.initiationDatagram.count, "smaller than the initiation: no amplifier")
        let withMAC2 = try #require(reply.withUnsafeBytes { second.receiveCookieReply($0, now: .zero) })
        sender.send(withMAC2)
        #expect(sender.receive()?.first == 2, "the cookie's mac2 gets message 2 under load")
        let line = try Self.handshakesLine(sw)
        #expect(Self.count(after: "cookie-replies", in: line) == 1 && Self.count(after: "responses", in: line) == 2, "\(line)")
    }
}
