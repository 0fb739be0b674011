import EthernetSwitch
import F2FBase
import F2FPosix

/// What the switch's console commands read besides the engine.
public struct SwitchConsoleContext {
    public var engine: SwitchEngine
    /// The VDE control directory and its sockets' mode, as `showinfo` prints them.
    public var controlDirectory: String
    public var socketMode: UInt32
    public var bridgeAddress: MACAddress
    public var managementPath: String?
    public var managementMode: UInt32
    public var startedAt: Instant

    public init(
        engine: SwitchEngine, controlDirectory: String, socketMode: UInt32, bridgeAddress: MACAddress,
        managementPath: String?, managementMode: UInt32, startedAt: Instant
    ) {
        self.engine = engine
        self.controlDirectory = controlDirectory
        self.socketMode = socketMode
        self.bridgeAddress = bridgeAddress
        self.managementPath = managementPath
        self.managementMode = managementMode
        self.startedAt = startedAt
    }
}

/// The vde_switch-compatible command set (docs/vde-protocol.md 3.2), as one declarative table.
public enum SwitchConsoleCommands {
    public static let version = "0.1.0"

    public static func banner() -> String {
        "f2f-switch \(version): a vde_switch-compatible Ethernet switch and F2F mesh node\n"
    }

    public static func register(on console: Console, context: SwitchConsoleContext) {
        let engine = context.engine
        for menu in [
            ConsoleMenu("ds", title: "DATA SOCKET MENU"),
            ConsoleMenu("hash", title: "HASH TABLE MENU"),
            ConsoleMenu("port", title: "PORT STATUS MENU"),
        ] {
            console.addMenu(menu)
        }
        let table: [ConsoleCommand] = [
            ConsoleCommand("showinfo", help: "show switch version and info", printsData: true) { _ in
                let uptime = (engine.loop.now - context.startedAt).wholeSeconds
                var lines = [
                    banner().trimmingSuffixNewline(), "",
                    "pid \(ProcessEnvironment.processID) MAC \(context.bridgeAddress) uptime \(uptime)",
                ]
                if let path = context.managementPath {
                    lines.append("mgmt \(path) perm \(TextFormat.octal(context.managementMode, width: 4))")
                }
                return lines
            },
            ConsoleCommand("ds/showinfo", help: "show ds info", printsData: true) { _ in
                [
                    "ctl dir \(context.controlDirectory)",
                    "std mode \(TextFormat.octal(context.socketMode, width: 4))",
                ]
            },
            ConsoleCommand("port/showinfo", help: "show port info", printsData: true) { _ in
                ["Numports=\(engine.core.ports.count)", "HUB=\(engine.core.configuration.isHub)", "counters=true"]
            },
            // Unlike vde_switch's, the spanning tree stays on in a hub (docs/vde-switch-compatibility.md).
            ConsoleCommand("port/sethub", syntax: "0/1", help: "1=HUB 0=switch") { argument throws(ConsoleError) in
                let word = argument.trimmingWhitespace()
                guard word == "0" || word == "1" else { throw .invalidArgument }
                engine.setHub(word == "1")
                return []
            },
            ConsoleCommand("port/print", syntax: "[N]", help: "print the port/endpoint table", printsData: true) { argument throws(ConsoleError) in
                try portLines(engine: engine, argument: argument, includeInactive: false)
            },
            ConsoleCommand("port/allprint", syntax: "[N]", help: "print the port/endpoint table (including inactive port)", printsData: true) {
                argument throws(ConsoleError) in
                try portLines(engine: engine, argument: argument, includeInactive: true)
            },
            // A made port takes VLAN settings before its client comes (an rcfile can set them).
            ConsoleCommand("port/create", syntax: "N", help: "create the port N (for settings before its client comes)") {
                argument throws(ConsoleError) in
                let port = try parsePort(argument, engine: engine)
                guard engine.createPort(port) else { throw .exists }
                return []
            },
            ConsoleCommand("port/createauto", help: "create a port, the lowest free one", printsData: true) { _ throws(ConsoleError) in
                guard let port = engine.core.lowestFreePort(from: 1) else { throw .inUse }
                _ = engine.createPort(port)
                return ["Port \(TextFormat.zeroPadded(port, width: 4))"]
            },
            ConsoleCommand("port/remove", syntax: "N", help: "disconnect the client on port N and free the port") { argument throws(ConsoleError) in
                let port = try parsePort(argument, engine: engine)
                let made = engine.unmakePort(port)
                guard engine.link(at: port) != nil else {
                    guard made else { throw .noSuchDeviceOrAddress }
                    return []
                }
                engine.detach(port: port, reason: "removed from the console")
                return []
            },
            ConsoleCommand("port/resetcounter", syntax: "[N]", help: "reset the port (N) counters") { argument throws(ConsoleError) in
                engine.resetCounters(port: argument.isEmpty ? nil : try parsePort(argument, engine: engine))
                return []
            },
            ConsoleCommand("port/setlearning", syntax: "N 0/1", help: "learn the source addresses of port N (1, default) or not (0)") {
                argument throws(ConsoleError) in
                let (port, on) = try parsePortAndFlag(argument, engine: engine)
                engine.setLearning(on, port: port)
                return []
            },
            ConsoleCommand("port/setlocked", syntax: "N 0/1", help: "locked port: only sources with a static entry on it pass") {
                argument throws(ConsoleError) in
                let (port, on) = try parsePortAndFlag(argument, engine: engine)
                engine.setLocked(on, port: port)
                return []
            },
            ConsoleCommand("port/setstorm", syntax: "N CLASS RATE", help: "flooded frames/s port N may send: bcast|mcast|unknown RATE (0 = unlimited), or default") {
                argument throws(ConsoleError) in
                let words = argument.split(separator: " ", omittingEmptySubsequences: true)
                guard let first = words.first else { throw .invalidArgument }
                let port = try parsePort(String(first), engine: engine)
                if words.count == 2, words[1] == "default" {
                    engine.resetStormLimits(port: port)
                    return []
                }
                guard words.count == 3, let floodClass = FloodClass(name: words[1]), let rate = UInt32(words[2]) else {
                    throw .invalidArgument
                }
                engine.setStormLimit(rate, for: floodClass, port: port)
                return []
            },
            ConsoleCommand("hash/showinfo", help: "show hash info", printsData: true) { _ in
                let table = engine.core.macTable
                return [
                    "Hash size \(table.capacity)",
                    "Entries \(table.count)",
                    "GC interval 1 secs",
                    "GC expire \(table.agingTime.wholeSeconds) secs",
                    "Refused (table full) \(table.refusedCount)",
                    "Static entries \(table.staticCount)",
                ]
            },
            ConsoleCommand("hash/setexpire", syntax: "N", help: "change hash entries expire time (seconds)") { argument throws(ConsoleError) in
                guard let seconds = Int64(argument), seconds > 0 else { throw .invalidArgument }
                engine.setMACAgingTime(.seconds(seconds))
                return []
            },
            ConsoleCommand("hash/print", help: "print the hash table", printsData: true) { _ in
                engine.core.macTable.stations(now: engine.loop.now).map { station in
                    "Hash: \(TextFormat.zeroPadded(hashSlot(station), width: 4)) Addr: \(station.address) VLAN \(TextFormat.zeroPadded(station.vlanID, width: 4))"
                        + " to port: \(TextFormat.zeroPadded(station.port, width: 3))  age \(station.age.wholeSeconds) secs\(station.isStatic ? " static" : "")"
                }
            },
            ConsoleCommand("hash/add", syntax: "MAC PORT [VLAN]", help: "add a static entry: never ages or moves, kept when the port's client goes") {
                argument throws(ConsoleError) in
                let words = argument.split(separator: " ", omittingEmptySubsequences: true)
                guard (2...3).contains(words.count), let address = MACAddress(parsing: words[0]), !address.isMulticast else {
                    throw .invalidArgument
                }
                let port = try parsePort(String(words[1]), engine: engine)
                let vlan = try parseVLAN(words.count == 3 ? words[2] : nil)
                engine.addStaticEntry(address, vlanID: vlan, port: port)
                return []
            },
            ConsoleCommand("hash/del", syntax: "MAC [VLAN]", help: "remove the entry (static or learned) of a MAC address") { argument throws(ConsoleError) in
                let words = argument.split(separator: " ", omittingEmptySubsequences: true)
                guard (1...2).contains(words.count), let address = MACAddress(parsing: words[0]) else { throw .invalidArgument }
                let vlan = try parseVLAN(words.count == 2 ? words[1] : nil)
                guard engine.removeEntry(address, vlanID: vlan) else { throw .noSuchDevice }
                return []
            },
            ConsoleCommand("hash/find", syntax: "MAC [VLAN]", help: "find a MAC address", printsData: true) { argument throws(ConsoleError) in
                let words = argument.split(separator: " ")
                guard let first = words.first, let address = MACAddress(parsing: first), words.count <= 2 else { throw .invalidArgument }
                let vlan = words.count == 2 ? UInt16(words[1]) : 0
                guard let vlan, vlan < 4096 else { throw .invalidArgument }
                guard let port = engine.core.macTable.lookup(address, vlanID: vlan, now: engine.loop.now) else { throw .noSuchDevice }
                return ["Address \(address) VLAN \(vlan) to port: \(TextFormat.zeroPadded(port, width: 3))"]
            },
        ]
        for command in table { console.add(command) }
        VLANConsoleCommands.register(on: console, engine: engine)
    }

    private static func parsePort(_ argument: String, engine: SwitchEngine) throws(ConsoleError) -> Int {
        guard let port = Int(argument.trimmingWhitespace()), engine.core.ports.indices.contains(port) else {
            throw .invalidArgument
        }
        return port
    }

    /// `N 0/1`, as vde_switch's two-word port settings take it.
    private static func parsePortAndFlag(_ argument: String, engine: SwitchEngine) throws(ConsoleError) -> (Int, Bool) {
        let words = argument.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 2, words[1] == "0" || words[1] == "1" else { throw .invalidArgument }
        return (try parsePort(String(words[0]), engine: engine), words[1] == "1")
    }

    private static func parseVLAN(_ word: Substring?) throws(ConsoleError) -> UInt16 {
        guard let word else { return 0 }
        guard let vlan = UInt16(word), vlan < 4096 else { throw .invalidArgument }
        return vlan
    }

    private static func portLines(engine: SwitchEngine, argument: String, includeInactive: Bool) throws(ConsoleError) -> [String] {
        let ports: [Int]
        if argument.trimmingWhitespace().isEmpty {
            ports = Array(engine.core.ports.indices)
        } else {
            let port = try parsePort(argument, engine: engine)
            guard includeInactive || engine.core.isActive(port) else { throw .noSuchDeviceOrAddress }
            ports = [port]
        }
        var lines: [String] = []
        for port in ports {
            let state = engine.core.ports[port]
            let link = engine.link(at: port)
            let used = state.counters.framesIn > 0 || state.counters.framesOut > 0 || state.counters.totalDrops > 0
            guard state.isActive || (includeInactive && (used || ports.count == 1)) else { continue }
            lines += describe(port: port, state: state, link: link, stormLimits: engine.core.stormLimits(ofPort: port))
        }
        return lines
    }

    private static func describe(port: Int, state: Switch.Port, link: (any PortLink)?, stormLimits: StormLimits) -> [String] {
        let counters = state.counters
        var lines = [
            "Port \(TextFormat.zeroPadded(port, width: 4)) untagged_vlan=\(TextFormat.zeroPadded(state.untaggedVLAN, width: 4)) \(state.isActive ? "" : "NOT ")ACTIVE - Unnamed Allocatable",
            " Current User: \(link?.userName ?? "NONE") Access Control: (User: NONE - Group: NONE)",
            " IN:  pkts \(TextFormat.rightAligned(counters.framesIn, width: 10))          bytes \(TextFormat.rightAligned(counters.bytesIn, width: 20))",
            " OUT: pkts \(TextFormat.rightAligned(counters.framesOut, width: 10))          bytes \(TextFormat.rightAligned(counters.bytesOut, width: 20))",
            " DROP:" + DropReason.allCases.map { " \($0) \(counters[dropped: $0])" }.joined(),
            " PAUSED: \(counters.pauses) times (a port it sent to was backed up)",
            " MAC: learning \(state.learning ? "on" : "off") locked \(state.isLocked ? "yes" : "no")",
            " STORM: " + FloodClass.allCases.map { floodClass in
                let rate = stormLimits[floodClass]
                return "\(floodClass) \(rate == 0 ? "unlimited" : "\(rate)/s") "
            }.joined() + (state.stormLimits != nil ? "(set on this port)" : state.kind == .edge ? "(client default)" : "(peer default)"),
        ]
        if let link {
            lines.append("  -- endpoint ID \(TextFormat.zeroPadded(link.endpointID, width: 4)) module \(TextFormat.leftAligned(link.kind, width: 12)): \(LogText.escaped(link.linkDescription))")
        }
        return lines
    }

    /// A stable pseudo bucket number for `hash/print`, where vde_switch shows its hash bucket.
    private static func hashSlot(_ station: MACTable.Station) -> UInt64 {
        (station.address.rawValue ^ UInt64(station.vlanID) << 48) % 9973
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.trimmingSuffix { $0 == " " || $0 == "\t" })
    }

    func trimmingSuffixNewline() -> String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
