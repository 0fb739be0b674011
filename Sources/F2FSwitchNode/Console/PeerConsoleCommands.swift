import EthernetSwitch
import F2FBase
import F2FCore
import F2FSecure
import F2FTransportTCP
import F2FTransportUDP
import SwitchRuntime
import VDEServer

/// `peer/*`: the F2F links, as users manage them from vdeterm.
enum PeerConsoleCommands {
    static func register(
        on console: Console, node: F2FNode, dialer: PeerDialer, peerPorts: PeerPorts, friendLinks: FriendLinks?, udp: UDPTransport?,
        mesh: MeshRouter? = nil, vlanLists: PeerVLANLists
    ) {
        console.addMenu(ConsoleMenu("peer", title: "F2F PEER MENU"))
        console.add(ConsoleCommand("peer/print", help: "print peer links and dialled addresses", printsData: true) { _ in
            lines(node: node, dialer: dialer, peerPorts: peerPorts, udp: udp, mesh: mesh, vlanLists: vlanLists)
        })
        console.add(ConsoleCommand("peer/add", syntax: "[ID@]HOST:PORT", help: "keep a link to a peer (redialled when it fails); ID pins and befriends it") { argument throws(ConsoleError) in
            guard let line = PeerLine(parsing: argument) else { throw .invalidArgument }
            guard !dialer.entries.contains(where: { $0.address == line.address }) else { throw .exists }
            if let pinned = line.pinnedID {
                guard let friendLinks else { throw .invalidArgument }  // --plaintext cannot check an id
                friendLinks.friends.add(pinned)
                friendLinks.reserve(line.address)
            }
            dialer.add(line.address, pinnedID: line.pinnedID?.description)
            return []
        })
        console.add(ConsoleCommand("peer/del", syntax: "HOST:PORT|N", help: "stop dialling a peer and close its link") { argument throws(ConsoleError) in
            let text = argument
            let entry = dialer.entries.first { String($0.id) == text || $0.address == TCPAddress(parsing: text) }
            guard let entry else { throw .noSuchDeviceOrAddress }
            dialer.remove(id: entry.id)
            return []
        })
        console.add(
            ConsoleCommand(
                "peer/setvlans", syntax: "ID|N LIST",
                help: "tagged VLANs a friend's link carries: 10,20,30-40, all (default) or none (untagged only); ID: a friend, N: peer/print's link"
            ) { argument throws(ConsoleError) in
                let words = argument.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count == 2 else { throw .invalidArgument }
                let list: VLANList
                do {
                    list = try VLANList(parsing: String(words[1]))
                } catch {
                    throw .invalidArgument
                }
                try setVLANs(list, peer: String(words[0]), node: node, peerPorts: peerPorts, friendLinks: friendLinks, vlanLists: vlanLists)
                return []
            })
        if let friendLinks { FriendConsoleCommands.register(on: console, links: friendLinks, node: node, dialer: dialer) }
    }

    /// A friend id keeps the list for every link of that friend, now and later; a peer
    /// number (`peer/print`'s `Peer 0001`, as `mesh/setcost` takes it) names a live link, and
    /// the list is kept by its friend's id, or for that link alone if it is plaintext.
    private static func setVLANs(
        _ list: VLANList, peer name: String, node: F2FNode, peerPorts: PeerPorts, friendLinks: FriendLinks?, vlanLists: PeerVLANLists
    ) throws(ConsoleError) {
        let friend: PeerID
        if let number = Int(name) {
            guard let peer = node.peers[number] else { throw .noSuchDeviceOrAddress }
            guard let id = peer.linkedFriend else {
                vlanLists.set(list, plaintextLink: peer, live: node.peers.keys)
                peerPorts.setVLANs(list, for: peer)
                return
            }
            friend = id
        } else {
            guard let id = PeerID(parsing: name) else { throw .invalidArgument }
            let linked = node.peers.values.contains { $0.linkedFriend == id }
            guard linked || friendLinks?.friends.contains(id) == true else { throw .noSuchDeviceOrAddress }
            friend = id
        }
        vlanLists.set(list, friend: friend)
        for peer in node.peers.values where peer.linkedFriend == friend {
            peerPorts.setVLANs(list, for: peer)
        }
    }

    private static func lines(node: F2FNode, dialer: PeerDialer, peerPorts: PeerPorts, udp: UDPTransport?, mesh: MeshRouter?, vlanLists: PeerVLANLists) -> [String] {
        let now = node.now()
        var output: [String] = []
        for entry in dialer.entries {
            let state: String
            switch entry.state {
            case .dialing: state = "DIALING"
            case .connected: state = "CONNECTED peer \(entry.peer.map { pad($0.id) } ?? "-")"
            case .waiting(let until): state = "WAITING retry in \(milliseconds(until - now)) ms"
            }
            let pin = entry.pinnedID.map { "\($0)@" } ?? ""
            var line = "Dial \(pad(entry.id)) \(pin)\(entry.address) \(state) reconnects \(entry.reconnects)"
            if let error = entry.lastError { line += " last: \(error)" }
            output.append(line)
        }
        for peer in node.peers.values.sorted(by: { $0.id < $1.id }) {
            let state: String
            switch peer.state {
            case .connecting: state = "CONNECTING"
            case .handshaking: state = "HANDSHAKING"
            case .established: state = "ESTABLISHED"
            case .closed: state = "CLOSED"
            }
            let uptime = peer.establishedAt.map { (now - $0).wholeSeconds } ?? 0
            let port = peer.attachment.map { " port \(pad($0))" } ?? ""
            let reconnects = dialer.entry(for: peer)?.reconnects ?? 0
            let counters = peer.counters
            output.append("Peer \(pad(peer.id)) \(state) \(peer.displayName) \(peer.isOutbound ? "outbound" : "inbound")\(port) uptime \(uptime)s")
            if let direct = peer.connection as? DatagramConnection {
                output.append(" id \(direct.friend) encrypted datagrams (link started over UDP)")
            } else if let secure = peer.secureConnection {
                let id = secure.remoteID.map(String.init(describing:)) ?? "-"
                output.append(" id \(id) encrypted records in \(secure.counters.recordsIn) out \(secure.counters.recordsOut)")
            } else {
                output.append(" plaintext (unauthenticated)")
            }
            if let direct = peer.connection as? DatagramConnection {
                output.append(directLine(direct, now: now))
            } else if let link = udp?.link(for: peer) {
                output.append(udpLine(link, now: now))
            } else {
                output.append(" path tcp")
            }
            if let cost = mesh?.cost(ofPeer: peer.id), let remote = peer.remote {
                let pinned = cost.pinned.map { " pinned \($0)" } ?? ""
                output.append(" mesh node \(MeshConsoleCommands.nodeName(remote.nodeID)) cost \(cost.current) measured \(cost.measured)\(pinned)")
            }
            if let introductions = udp?.direct?.introductions, peer.state == .established {
                let seen = introductions.observedEndpoint(of: peer).map(String.init(describing:)) ?? "-"
                let seesUs = introductions.observedUs(by: peer).map(String.init(describing:)) ?? "-"
                output.append(" nat observed \(seen) sees-us-at \(seesUs)")
            }
            output.append(" vlans \(vlanLists.list(for: peer))")
            output.append(" IN:  packets \(counters.packetsIn) bytes \(counters.bytesIn)")
            output.append(" OUT: packets \(counters.packetsOut) bytes \(counters.bytesOut)")
            let queued = peerPorts.link(for: peer)?.queuedFrames ?? 0
            output.append(" frames dropped \(counters.framesDropped) queued \(queued) unclaimed \(counters.unclaimedDropped) reconnects \(reconnects)")
            if let liveness = peer.liveness {
                let rtt = liveness.rtt.smoothed.map { format3(Double($0.nanoseconds) / 1e6) + " ms" } ?? "-"
                output.append(" liveness stream-rtt \(rtt) dead-after \(milliseconds(liveness.deadAfter)) ms keepalive \(milliseconds(liveness.keepaliveSpacing)) ms")
            }
        }
        return output
    }

    /// The link's path and what the UDP side saw: which path frames take, where datagrams go,
    /// RTT and probe loss, datagram counters.
    private static func udpLine(_ link: DatagramLink, now: Instant) -> String {
        let path = link.carriesFrames ? "udp" : "tcp"
        let endpoint = link.endpoint.map(String.init(describing:)) ?? "-"
        let rtt = link.monitor.rtt.smoothed.map { String(format3(Double($0.nanoseconds) / 1e6)) + " ms" } ?? "-"
        let loss = link.monitor.lossRate(now: now).map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
        let counters = link.counters
        return " path \(path) udp \(endpoint) rtt \(rtt) loss \(loss) fallbacks \(link.selection?.fallbacks ?? 0)"
            + " datagrams in \(counters.datagramsIn) out \(counters.datagramsOut) fragments in \(counters.fragmentsIn) out \(counters.fragmentsOut)"
            + " send-failures \(counters.sendFailures) roams \(counters.roams)"
            + " reassembly timed-out \(link.reassemblyCounters.timedOut) evicted \(link.reassemblyCounters.evicted)"
            + " inbox-dropped \(link.connection?.counters.inboxDropped ?? 0)"
            + " payload \(link.payloadSize)"
    }

    /// A link that started over UDP: direct, who introduced it, its datagram counters.
    private static func directLine(_ link: DatagramConnection, now: Instant) -> String {
        let counters = link.counters
        let rtt = link.monitor.rtt.smoothed.map { String(format3(Double($0.nanoseconds) / 1e6)) + " ms" } ?? "-"
        let loss = link.monitor.lossRate(now: now).map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
        return " path udp direct introduced-by \(link.introducedBy ?? "-") udp \(link.endpoint) \(link.isInitiator ? "initiator" : "responder")"
            + " datagrams in \(counters.datagramsIn) out \(counters.datagramsOut) send-failures \(counters.sendFailures)"
            + " hello-resends \(counters.helloResends) rekeys \(counters.rekeys) roams \(counters.roams) inbox-dropped \(counters.inboxDropped)"
            + " rtt \(rtt) loss \(loss)"
    }

    private static func format3(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    private static func pad(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        max(0, duration.nanoseconds / 1_000_000)
    }
}
