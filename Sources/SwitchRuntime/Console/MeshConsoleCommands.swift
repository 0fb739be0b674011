import EthernetSwitch
import F2FBase
import F2FCore

/// `mesh/*`: the link-state routes across friend links (docs/mesh-routing.md).
public enum MeshConsoleCommands {
    public static func register(on console: Console, router: MeshRouter, engine: SwitchEngine, node: F2FNode) {
        console.addMenu(ConsoleMenu("mesh", title: "MESH ROUTING MENU"))
        console.add(ConsoleCommand("mesh/print", help: "this node, the nodes it reaches (cost, next hop, path) and routed-frame counters", printsData: true) { _ in
            printLines(router: router, engine: engine)
        })
        console.add(ConsoleCommand("mesh/route", syntax: "MAC [VLAN]", help: "the path a station's unicast frames take from here", printsData: true) { argument throws(ConsoleError) in
            let words = argument.split(separator: " ")
            guard (1...2).contains(words.count), let address = MACAddress(parsing: words[0]), !address.isMulticast else { throw .invalidArgument }
            var vlan: UInt16 = 0
            if words.count == 2 {
                guard let parsed = UInt16(words[1]), parsed < 4095 else { throw .invalidArgument }
                vlan = parsed
            }
            return [routeLine(address, vlan: vlan, router: router, engine: engine)]
        })
        console.add(ConsoleCommand("mesh/setcost", syntax: "PEER COST", help: "pin the cost advertised for a peer's link (peer/print's number; COST 0: measured again)") { argument throws(ConsoleError) in
            let words = argument.split(separator: " ")
            guard words.count == 2, let peer = Int(words[0]), let cost = UInt32(words[1]), cost <= LinkCost.maximum else { throw .invalidArgument }
            guard router.pinCost(cost == 0 ? nil : cost, peerID: peer) else { throw .noSuchDeviceOrAddress }
            return []
        })
    }

    public static func nodeName(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    static func pathText(_ path: [UInt64]) -> String {
        path.map(nodeName).joined(separator: " > ")
    }

    private static func printLines(router: MeshRouter, engine: SwitchEngine) -> [String] {
        let routes = router.routes
        let table = engine.meshTable
        let ownAdvert = router.database.advert(of: router.ownID)
        var lines = [
            "node \(nodeName(router.ownID)) sequence \(ownAdvert?.sequence ?? 0) links \(ownAdvert?.links.count ?? 0) stations \(ownAdvert?.stations.count ?? 0)"
                + " routed-stations \(table?.stations.count ?? 0) contested \(routes.contested)"
        ]
        let counters = engine.meshCounters
        lines.append(
            "frames routed \(counters.routed) delivered \(counters.delivered) delivered-by-flood \(counters.deliveredByFlood) relayed \(counters.relayed)"
                + " dropped hop-limit \(counters.droppedHopLimit) no-route \(counters.droppedNoRoute) malformed \(counters.droppedMalformed)")
        let advertCounters = router.counters
        lines.append(
            "adverts in \(advertCounters.advertsIn) out \(advertCounters.advertsOut) stale \(advertCounters.advertsStale)"
                + " malformed \(advertCounters.advertsMalformed) refused \(advertCounters.advertsRefused) originated \(advertCounters.originated) computations \(advertCounters.routeComputations)")
        for advert in router.database.adverts where advert.origin != router.ownID {
            let id = advert.origin
            guard let distance = routes.distance[id], let hop = routes.nextHop[id] else {
                lines.append("Node \(nodeName(id)) unreachable sequence \(advert.sequence) stations \(advert.stations.count)")
                continue
            }
            let port = table?.nodes[id].map { String($0) } ?? "-"
            lines.append(
                "Node \(nodeName(id)) cost \(distance) next-hop \(nodeName(hop)) port \(port) stations \(advert.stations.count) path \(pathText(routes.path(to: id) ?? []))")
        }
        return lines
    }

    private static func routeLine(_ address: MACAddress, vlan: UInt16, router: MeshRouter, engine: SwitchEngine) -> String {
        let key = MeshAdvert.stationKey(address, vlanID: vlan)
        let prefix = "\(address) vlan \(vlan):"
        if let hop = engine.meshTable?.stations[key] {
            let cost = router.routes.distance[hop.owner] ?? 0
            return "\(prefix) owner \(nodeName(hop.owner)) port \(hop.port) cost \(cost) path \(pathText(router.routes.path(to: hop.owner) ?? []))"
        }
        if router.routes.owners[key] == router.ownID {
            let port = engine.core.macTable.lookup(address, vlanID: vlan, now: engine.loop.now).map { " port \($0)" } ?? ""
            return "\(prefix) owner \(nodeName(router.ownID)) (here)\(port)"
        }
        return "\(prefix) not routed (unknown or contested owner): spanning tree"
    }
}
