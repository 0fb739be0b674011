import EthernetSwitch

/// vde_switch 2.3.2's VLAN menu and `port/setvlan`, with its argument checks and error codes
/// (checked against the real binary): a bad number or port out of range is 1022, an unknown
/// VLAN or a port without a client 1006, an existing VLAN 1017, a VLAN still in use 1098.
enum VLANConsoleCommands {
    static func register(on console: Console, engine: SwitchEngine) {
        console.addMenu(ConsoleMenu("vlan", title: "VLAN MANAGEMENT MENU"))
        let table: [ConsoleCommand] = [
            ConsoleCommand("vlan/create", syntax: "N", help: "create the VLAN with tag N") { argument throws(ConsoleError) in
                // vde_switch takes 1...4093 here, though 802.1Q allows 4094.
                guard let vlan = UInt16(argument.trimmingWhitespace()), (1...4093).contains(vlan) else { throw .invalidArgument }
                try check { () throws(VLANError) in try engine.createVLAN(vlan) }
                return []
            },
            ConsoleCommand("vlan/remove", syntax: "N", help: "remove the VLAN with tag N") { argument throws(ConsoleError) in
                let vlan = try parseVLAN(argument)
                try check { () throws(VLANError) in try engine.removeVLAN(vlan) }
                return []
            },
            ConsoleCommand("vlan/addport", syntax: "N PORT", help: "add port to the vlan N (tagged)") { argument throws(ConsoleError) in
                let (vlan, port) = try parseVLANAndPort(argument, engine: engine)
                try check { () throws(VLANError) in try engine.addTaggedPort(port, vlan: vlan) }
                return []
            },
            ConsoleCommand("vlan/delport", syntax: "N PORT", help: "remove port from the vlan N (tagged)") { argument throws(ConsoleError) in
                let (vlan, port) = try parseVLANAndPort(argument, engine: engine)
                try check { () throws(VLANError) in try engine.removeTaggedPort(port, vlan: vlan) }
                return []
            },
            ConsoleCommand("vlan/print", syntax: "[N]", help: "print the list of defined vlan", printsData: true) { argument throws(ConsoleError) in
                try vlanLines(engine: engine, argument: argument, includeInactive: false)
            },
            ConsoleCommand("vlan/allprint", syntax: "[N]", help: "print the list of defined vlan (including inactive port)", printsData: true) {
                argument throws(ConsoleError) in
                // vde_switch refuses VLAN 0 here (not in vlan/print).
                if argument.trimmingWhitespace() == "0" { throw .invalidArgument }
                return try vlanLines(engine: engine, argument: argument, includeInactive: true)
            },
            ConsoleCommand("port/setvlan", syntax: "N VLAN", help: "set port VLAN (untagged)") { argument throws(ConsoleError) in
                let words = argument.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count == 2, let port = Int(words[0]), engine.core.ports.indices.contains(port) else { throw .invalidArgument }
                let vlan = try parseVLAN(String(words[1]))
                try check { () throws(VLANError) in try engine.setUntaggedVLAN(vlan, port: port) }
                return []
            },
        ]
        for command in table { console.add(command) }
    }

    private static func check(_ change: () throws(VLANError) -> Void) throws(ConsoleError) {
        do {
            try change()
        } catch {
            throw consoleError(error)
        }
    }

    private static func consoleError(_ error: VLANError) -> ConsoleError {
        switch error {
        case .invalidVLAN: .invalidArgument
        case .noSuchVLAN, .noSuchPort: .noSuchDeviceOrAddress
        case .exists: .exists
        case .inUse: .inUse
        }
    }

    /// 0...4095; whether the VLAN exists is the switch's to say.
    private static func parseVLAN(_ argument: String) throws(ConsoleError) -> UInt16 {
        guard let vlan = UInt16(argument.trimmingWhitespace()), vlan <= VLANs.none else { throw .invalidArgument }
        return vlan
    }

    private static func parseVLANAndPort(_ argument: String, engine: SwitchEngine) throws(ConsoleError) -> (UInt16, Int) {
        let words = argument.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 2, let port = Int(words[1]), engine.core.ports.indices.contains(port) else { throw .invalidArgument }
        return (try parseVLAN(String(words[0])), port)
    }

    /// `VLAN 0010` and one ` -- Port 0003 tagged=1 active=1 status=Forwarding` line per member.
    private static func vlanLines(engine: SwitchEngine, argument: String, includeInactive: Bool) throws(ConsoleError) -> [String] {
        let core = engine.core
        let vlans: [UInt16]
        if argument.trimmingWhitespace().isEmpty {
            vlans = core.vlans.identifiers
        } else {
            let vlan = try parseVLAN(argument)
            guard core.vlans.exists(vlan) else { throw .noSuchDeviceOrAddress }
            vlans = [vlan]
        }
        var lines: [String] = []
        for vlan in vlans {
            lines.append("VLAN \(TextFormat.zeroPadded(vlan, width: 4))")
            for port in core.ports.indices {
                let state = core.ports[port]
                guard state.isActive || includeInactive else { continue }
                let membership = core.isVLANMember(port, vlan: vlan)
                guard membership.member else { continue }
                // An inactive port's state is not kept; vde_switch shows Learning for it.
                let status = state.isActive ? stateName(state.state) : "Learning"
                lines.append(
                    " -- Port \(TextFormat.zeroPadded(port, width: 4)) tagged=\(membership.tagged ? 1 : 0) active=\(state.isActive ? 1 : 0) status=\(status)")
            }
        }
        return lines
    }

    private static func stateName(_ state: STPPortState) -> String {
        state.forwards ? "Forwarding" : state.learns ? "Learning" : "Discarding"
    }
}
