import F2FCore
import F2FTransportUDP
import SwitchRuntime
import VDEServer

/// Times each listening socket rested because accept found no descriptor (or memory) free.
struct AcceptPauses {
    var listener: UInt64
    var console: UInt64
    var control: UInt64
}

/// `limits/print`: every resource bound, what uses it now and how often it refused something.
enum LimitsConsoleCommands {
    static func register(
        on console: Console, settings: SwitchNodeSettings, node: F2FNode, engine: SwitchEngine, friendLinks: FriendLinks?,
        udp: UDPTransport?, peerPorts: PeerPorts, server: VDEServer,
        accept: @escaping () -> AcceptPauses, consoleSessions: @escaping () -> (now: Int, refused: UInt64)
    ) {
        console.addMenu(ConsoleMenu("limits", title: "LIMITS MENU"))
        console.add(ConsoleCommand("limits/print", help: "print resource limits, current use and refusals", printsData: true) { _ in
            let core = engine.core
            let table = core.macTable
            let portRefusals = core.ports.reduce(UInt64(0)) { $0 &+ $1.counters.macLimitRefusals }
            let counters = friendLinks?.counters ?? FriendLinks.Counters()
            let pauses = accept()
            let sessions = consoleSessions()
            var output = [
                "max-peers \(settings.maxPeers) now \(node.peers.count) refused \(counters.overPeerLimit)",
                "max-pending \(settings.maxPending) now \(friendLinks?.pendingCount ?? 0) per-source \(settings.maxPendingPerSource) reserved \(friendLinks?.reservedPendingCount ?? 0)/\(settings.reservedPending)",
                "pending-evicted pool-full \(counters.evictedPoolFull) per-source \(counters.evictedSourceFull)",
                "first-message-timeout \(min(settings.firstMessageTimeout, settings.handshakeTimeout)) s timed-out \(counters.firstMessageTimeouts)",
                "handshake-timeout \(settings.handshakeTimeout) s timed-out \(counters.handshakeTimeouts)",
                "handshake-rate \(settings.handshakeRate)/s per-source \(settings.handshakeRatePerSource)/s refused \(counters.handshakesRateLimited)",
                "console-sessions \(settings.maxConsoleSessions) now \(sessions.now) refused \(sessions.refused)",
                "accept-paused listen \(pauses.listener) ctl \(pauses.control) console \(pauses.console)",
                "hash-size \(table.capacity) now \(table.count) refused \(table.refusedCount)",
                "port-macs \(settings.clientMACLimit) peer-macs \(settings.peerMACLimit) refused \(portRefusals)",
                "port-queue \(settings.portQueue) frames per port; senders paused \(core.ports.reduce(UInt64(0)) { $0 &+ $1.counters.pauses }) times, stall-timeout \(settings.stallTimeout) s",
                "max-frame \(settings.maxFrame) bytes; peer packets 65535 bytes; encrypted records 65535 bytes",
                "peer-ports \(peerPorts.maximumPorts) now \(peerPorts.linkCount) refused \(peerPorts.refusedForLackOfPorts)",
                "all-peers-macs \(table.peerCapacity) now \(table.peerStationCount) refused \(table.peerShareRefusedCount)",
                "duplicate-links refused \(node.admissionCounters.duplicateLinks &+ (friendLinks?.counters.duplicateLinksRefused ?? 0)) forged-node-ids \(node.admissionCounters.forgedNodeIDs)",
                "client-sockets not the client's refused \(server.clientSocketRefusals)",
            ]
            if let udp {
                let dropped = udp.counters
                output.append(
                    "udp-dropped \(dropped.dropped) malformed \(dropped.malformed) unknown-index \(dropped.unknownIndex) too-old \(dropped.tooOld) "
                        + "replayed \(dropped.duplicates) bad-mac \(dropped.forged) expired \(dropped.expired) oversize \(dropped.oversize)")
                let offload = udp.offload
                output.append(
                    "udp-offload segmentation \(offload.segmentation ? "on" : "off") refused \(offload.segmentationRefusals) "
                        + "messages \(offload.segmentedMessages) datagrams \(offload.segmentedDatagrams) "
                        + "coalescing \(offload.coalescing ? "on" : "off") slots \(offload.coalescedSlots) datagrams \(offload.coalescedDatagrams)")
                let overflows = udp.socketOverflows
                output.append("udp-receive-buffer \(overflows.receiveBuffer / 1024) KiB overflowed \(overflows.drops) held \(udp.counters.receiveHolds)")
                if let direct = udp.direct {
                    let handshakes = direct.responderCounters
                    let links = direct.counters
                    output.append(
                        "udp-handshakes bad-mac1 \(handshakes.badMAC1) cookie-replies \(handshakes.cookieRepliesSent) rate-limited \(handshakes.rateLimited) "
                            + "responses \(handshakes.responses) duplicates \(handshakes.duplicateInitiations) failures \(handshakes.handshakeFailures) "
                            + "refused \(handshakes.refused) established \(handshakes.established) pending-evicted \(handshakes.pendingEvicted) "
                            + "pending-expired \(handshakes.pendingExpired) punches \(handshakes.punches)")
                    let introductions = direct.introductions
                    output.append(
                        "direct-links attempts \(links.attempts) failed \(links.attemptsFailed) started \(links.linksStarted) punches-sent \(links.punchesSent) "
                            + "rekeys \(links.rekeys) introductions-ignored \(links.introductionsIgnored) "
                            + "introductions sent \(introductions?.counters.introductionsSent ?? 0) received \(introductions?.counters.introductionsReceived ?? 0) "
                            + "retried \(introductions?.brokerCounters.retries ?? 0)")
                }
            }
            if let friendLinks {
                output.append("strangers-refused \(friendLinks.counters.strangersRefused) handshake-failures \(friendLinks.counters.handshakeFailures)")
            } else {
                output.append("peer links are PLAINTEXT (--plaintext): no authentication, no encryption")
            }
            return output
        })
    }
}
