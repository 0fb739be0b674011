import F2FCore
import VDEServer

/// `limits/print`: every resource bound, what uses it now and how often it refused something.
enum LimitsConsoleCommands {
    static func register(
        on console: Console, options: SwitchOptions, node: F2FNode, engine: SwitchEngine, friendLinks: FriendLinks?,
        peerPorts: PeerPorts, server: VDEServer
    ) {
        console.addMenu(ConsoleMenu("limits", title: "LIMITS MENU"))
        console.add(ConsoleCommand("limits/print", help: "print resource limits, current use and refusals", printsData: true) { _ in
            let core = engine.core
            let table = core.macTable
            let portRefusals = core.ports.reduce(UInt64(0)) { $0 &+ $1.counters.macLimitRefusals }
            var output = [
                "max-peers \(options.maxPeers) now \(node.peers.count) refused \(friendLinks?.counters.overPeerLimit ?? 0)",
                "max-pending \(options.maxPending) now \(friendLinks?.pendingCount ?? 0) refused \(friendLinks?.counters.overPendingLimit ?? 0)",
                "handshake-timeout \(options.handshakeTimeout) s timed-out \(friendLinks?.counters.handshakeTimeouts ?? 0)",
                "hash-size \(table.capacity) now \(table.count) refused \(table.refusedCount)",
                "port-macs \(options.clientMACLimit) peer-macs \(options.peerMACLimit) refused \(portRefusals)",
                "port-queue \(options.portQueue) frames per port; senders paused \(core.ports.reduce(UInt64(0)) { $0 &+ $1.counters.pauses }) times, stall-timeout \(options.stallTimeout) s",
                "max-frame \(options.maxFrame) bytes; peer packets 65535 bytes; encrypted records 65535 bytes",
                "peer-ports \(peerPorts.maximumPorts) now \(peerPorts.linkCount) refused \(peerPorts.refusedForLackOfPorts)",
                "all-peers-macs \(table.peerCapacity) now \(table.peerStationCount) refused \(table.peerShareRefusedCount)",
                "duplicate-links refused \(node.admissionCounters.duplicateLinks &+ (friendLinks?.counters.duplicateLinksRefused ?? 0)) forged-node-ids \(node.admissionCounters.forgedNodeIDs)",
                "client-sockets not the client's refused \(server.clientSocketRefusals)",
            ]
            if let friendLinks {
                output.append("strangers-refused \(friendLinks.counters.strangersRefused) handshake-failures \(friendLinks.counters.handshakeFailures)")
            } else {
                output.append("peer links are PLAINTEXT (--plaintext): no authentication, no encryption")
            }
            return output
        })
    }
}
