import EthernetSwitch

/// `stp/*`: the spanning tree, inspected and tuned from vdeterm.
public enum SpanningTreeConsoleCommands {
    public static func register(on console: Console, engine: SwitchEngine, settings: SpanningTree) {
        console.addMenu(ConsoleMenu("stp", title: "SPANNING TREE MENU"))
        console.add(ConsoleCommand("stp/enable", syntax: "0/1", help: "turn the rapid spanning tree on or off") { argument throws(ConsoleError) in
            switch argument {
            case "1":
                if engine.core.spanningTree == nil { engine.setSpanningTree(settings) }
            case "0":
                engine.setSpanningTree(nil)
            default:
                throw .invalidArgument
            }
            return []
        })
        console.add(ConsoleCommand("stp/print", help: "bridge, root and per-port spanning tree state", printsData: true) { _ in
            lines(engine)
        })
        console.add(ConsoleCommand("stp/setprio", syntax: "N", help: "bridge priority (0…61440, steps of 4096)") { argument throws(ConsoleError) in
            guard engine.core.spanningTree != nil else { throw .noSuchDevice }
            guard let priority = UInt16(argument), priority % 4096 == 0, priority <= 61440 else { throw .invalidArgument }
            engine.withSpanningTree { tree, actions in tree.setPriority(priority, now: engine.loop.now, actions: &actions) }
            return []
        })
        console.add(ConsoleCommand("stp/setcost", syntax: "PORT COST", help: "path cost of a port (1…200000000)") { argument throws(ConsoleError) in
            let words = argument.split(separator: " ")
            guard words.count == 2, let port = Int(words[0]), let cost = UInt32(words[1]), (1...200_000_000).contains(cost) else {
                throw .invalidArgument
            }
            guard engine.core.isActive(port) else { throw .noSuchDeviceOrAddress }
            engine.setPathCost(cost, port: port)
            return []
        })
        console.add(ConsoleCommand("stp/setedge", syntax: "PORT 0/1", help: "make a port an edge port (forwards at once) or not") { argument throws(ConsoleError) in
            let words = argument.split(separator: " ")
            guard words.count == 2, let port = Int(words[0]), words[1] == "0" || words[1] == "1" else { throw .invalidArgument }
            guard engine.core.isActive(port), engine.core.spanningTree != nil else { throw .noSuchDeviceOrAddress }
            engine.withSpanningTree { tree, actions in tree.setAdminEdge(words[1] == "1", port: port, now: engine.loop.now, actions: &actions) }
            return []
        })
        addGuardCommand(
            "stp/setrootguard", help: "root guard: the port never leads to the root; a better root heard there makes it discard",
            guardPath: \.rootGuard, on: console, engine: engine)
        addGuardCommand(
            "stp/settcnguard", help: "topology-change guard: changes heard on the port flush nothing and go no further",
            guardPath: \.topologyChangeGuard, on: console, engine: engine)
        addGuardCommand(
            "stp/setbpduguard", help: "BPDU guard: a BPDU heard on the port takes it down", guardPath: \.bpduGuard, on: console, engine: engine)
        addGuardCommand(
            "stp/setbpdufilter", help: "send no BPDUs on the port and ignore those heard (loops through it go unseen)",
            guardPath: \.bpduFilter, on: console, engine: engine)
        console.add(ConsoleCommand("stp/settcinterval", syntax: "MS", help: "act on at most one topology change per port per MS milliseconds (100…60000)") {
            argument throws(ConsoleError) in
            guard let milliseconds = Int64(argument), (100...60_000).contains(milliseconds) else { throw .invalidArgument }
            guard engine.core.spanningTree != nil else { throw .noSuchDevice }
            engine.withSpanningTree { tree, _ in tree.setTopologyChangeInterval(.milliseconds(milliseconds)) }
            return []
        })
    }

    private static func addGuardCommand(
        _ path: String, help: String, guardPath: WritableKeyPath<STPPortGuards, Bool>, on console: Console, engine: SwitchEngine
    ) {
        console.add(ConsoleCommand(path, syntax: "PORT 0/1", help: help) { argument throws(ConsoleError) in
            let words = argument.split(separator: " ")
            guard words.count == 2, let port = Int(words[0]), words[1] == "0" || words[1] == "1" else { throw .invalidArgument }
            guard engine.core.isActive(port) else { throw .noSuchDeviceOrAddress }
            var guards = engine.core.ports[port].guards
            guards[keyPath: guardPath] = words[1] == "1"
            engine.setGuards(guards, port: port)
            return []
        })
    }

    private static func lines(_ engine: SwitchEngine) -> [String] {
        guard let tree = engine.core.spanningTree else { return ["STP=off"] }
        let times = tree.rootTimes
        var output = [
            "STP=on version 2 (rapid, 802.1D-2004)",
            "bridge \(tree.bridgeID)" + (tree.isRoot ? " ROOT" : ""),
            "root \(tree.designatedRoot) cost \(tree.rootPriority.rootPathCost) rootport \(tree.rootPort.map(pad) ?? "none")",
            "max-age \(times.maxAge) hello \(times.helloTime) forward-delay \(times.forwardDelay)",
            "topology changes \(tree.topologyChangeCount) (at most one acted on per port every \(tree.configuration.topologyChangeInterval))",
        ]
        for number in tree.ports.keys.sorted() {
            let port = tree.ports[number]!
            let counters = engine.core.ports[number].counters
            output.append(
                "Port \(pad(number)) role=\(port.role.rawValue) state=\(port.state.rawValue) cost=\(port.pathCost)"
                    + " edge=\(port.operEdge ? 1 : 0) p2p=\(port.pointToPoint ? 1 : 0) protocol=\(port.sendRSTP ? "rstp" : "stp")"
                    + " guards=\(port.guards.names.isEmpty ? "none" : port.guards.names.joined(separator: ","))"
                    + (port.isRootInconsistent ? " ROOT-INCONSISTENT" : "")
                    + " bpdu-in=\(port.bpdusReceived) bpdu-out=\(port.bpdusSent) bpdu-filtered=\(port.bpdusFiltered)"
                    + " tc-ignored=\(port.topologyChangesIgnored) frames-in=\(counters.framesIn) frames-out=\(counters.framesOut)")
        }
        return output
    }

    private static func pad(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
