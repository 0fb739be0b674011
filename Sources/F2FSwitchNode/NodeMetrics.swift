import F2FCore
import F2FSecure
import F2FTransportUDP
import SwitchRuntime

/// What `GET /metrics` answers: the switch's ports (`SwitchMetrics`), the friend links, the
/// refusals before authentication and the process. Everything is read from counters the node
/// keeps for its console (`peer/print`, `limits/print`) when a scrape asks.
final class NodeMetrics {
    private let engine: SwitchEngine
    private let node: F2FNode
    private let friendLinks: FriendLinks?
    private let udp: UDPTransport?
    private let startTime: Double
    /// The name each friend last said it had, so an offline friend's series keeps its labels.
    private var lastNames: [PeerID: String] = [:]

    init(engine: SwitchEngine, node: F2FNode, friendLinks: FriendLinks?, udp: UDPTransport?, startTime: Double) {
        self.engine = engine
        self.node = node
        self.friendLinks = friendLinks
        self.udp = udp
        self.startTime = startTime
    }

    /// The short form of an id shown beside a friend's name: the first group of its checked
    /// form, as Syncthing shows a device.
    static func shortID(_ id: PeerID) -> String {
        id.shortDescription
    }

    func render() -> String {
        var text = MetricsText()
        text.family("f2f_build_info", .gauge, help: "Always 1; the labels say which f2f-switch this is.")
        text.sample("f2f_build_info", [("version", SwitchConsoleCommands.version)], 1)
        text.family("process_start_time_seconds", .gauge, help: "Start time of the process since the Unix epoch, in seconds.")
        text.sample("process_start_time_seconds", [], startTime)
        SwitchMetrics.write(engine, into: &text)
        writePeers(into: &text)
        writeRefusals(into: &text)
        return text.text
    }

    /// One series per friend (up or not), and per link of a peer that is not a friend's
    /// (plaintext links, whose id is empty).
    private func writePeers(into text: inout MetricsText) {
        var rows: [(labels: [(String, String)], up: Bool, peer: Peer?)] = []
        var seen = Set<PeerID>()
        for peer in node.peers.values.sorted(by: { $0.id < $1.id }) {
            let id = peer.secureConnection?.remoteID
            let name = peer.remote?.name ?? ""
            if let id {
                guard seen.insert(id).inserted else { continue }
                if !name.isEmpty { lastNames[id] = name }
            }
            let labels = [("peer", id.map { lastNames[$0] ?? name } ?? name), ("id", id.map(Self.shortID) ?? "")]
            rows.append((labels, peer.state == .established, peer))
        }
        for id in friendLinks?.friends.sorted ?? [] where !seen.contains(id) {
            rows.append(([("peer", lastNames[id] ?? ""), ("id", Self.shortID(id))], false, nil))
        }
        text.family("f2f_peer_up", .gauge, help: "1 while the link to the peer is established, else 0.")
        for row in rows { text.sample("f2f_peer_up", row.labels, row.up ? 1 : 0) }
        text.family("f2f_peer_rtt_seconds", .gauge, help: "Smoothed round-trip time of the peer's UDP path (links on TCP only have none).")
        for row in rows {
            guard let peer = row.peer, let rtt = udp?.link(for: peer)?.monitor.rtt.smoothed else { continue }
            text.sample("f2f_peer_rtt_seconds", row.labels, Double(rtt.nanoseconds) / 1e9)
        }
        text.family("f2f_peer_bytes_total", .counter, help: "Bytes of F2F packets received (in) from and sent (out) to the peer on its current link.")
        for row in rows {
            guard let counters = row.peer?.counters else { continue }
            text.sample("f2f_peer_bytes_total", row.labels + [("direction", "in")], counters.bytesIn)
            text.sample("f2f_peer_bytes_total", row.labels + [("direction", "out")], counters.bytesOut)
        }
    }

    private func writeRefusals(into text: inout MetricsText) {
        let counters = friendLinks?.counters ?? FriendLinks.Counters()
        text.family("f2f_peer_handshake_failures_total", .counter, help: "Noise handshakes that did not complete, by reason.")
        for (reason, value) in [
            ("failed", counters.handshakeFailures), ("timeout", counters.handshakeTimeouts),
            ("first-message-timeout", counters.firstMessageTimeouts),
        ] {
            text.sample("f2f_peer_handshake_failures_total", [("reason", reason)], value)
        }
        let admission = node.admissionCounters
        text.family("f2f_refused_connections_total", .counter, help: "Peer connections refused or closed before they carried frames, by reason.")
        for (reason, value) in [
            ("stranger", counters.strangersRefused), ("peer-limit", counters.overPeerLimit),
            ("handshake-rate", counters.handshakesRateLimited),
            ("duplicate-link", counters.duplicateLinksRefused &+ admission.duplicateLinks),
            ("forged-node-id", admission.forgedNodeIDs), ("pending-full", counters.evictedPoolFull),
            ("pending-per-source", counters.evictedSourceFull),
        ] {
            text.sample("f2f_refused_connections_total", [("reason", reason)], value)
        }
    }
}
