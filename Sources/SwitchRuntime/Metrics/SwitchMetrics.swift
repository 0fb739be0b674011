import EthernetSwitch

/// The switch's part of a scrape: per-port traffic, drops and pauses, the MAC table and the
/// spanning tree's port roles, read from the counters the engine keeps for `port/print` (a
/// scrape reads them; the data path does nothing more for it).
public enum SwitchMetrics {
    public static func write(_ engine: SwitchEngine, into text: inout MetricsText) {
        let core = engine.core
        let active = core.ports.indices.filter { core.ports[$0].isActive }
        text.family("f2f_port_frames_total", .counter, help: "Frames received (in) from and sent (out) to the port.")
        for port in active {
            let counters = core.ports[port].counters
            text.sample("f2f_port_frames_total", [("port", String(port)), ("direction", "in")], counters.framesIn)
            text.sample("f2f_port_frames_total", [("port", String(port)), ("direction", "out")], counters.framesOut)
        }
        text.family("f2f_port_bytes_total", .counter, help: "Bytes of the frames received (in) from and sent (out) to the port.")
        for port in active {
            let counters = core.ports[port].counters
            text.sample("f2f_port_bytes_total", [("port", String(port)), ("direction", "in")], counters.bytesIn)
            text.sample("f2f_port_bytes_total", [("port", String(port)), ("direction", "out")], counters.bytesOut)
        }
        text.family("f2f_port_drops_total", .counter, help: "Frames dropped on the port, by reason (the names port/print uses).")
        for port in active {
            let counters = core.ports[port].counters
            for reason in DropReason.allCases {
                text.sample("f2f_port_drops_total", [("port", String(port)), ("reason", reason.description)], counters[dropped: reason])
            }
        }
        text.family("f2f_port_paused_total", .counter, help: "Times reading from the port stopped because a port it sent to was backed up.")
        for port in active {
            text.sample("f2f_port_paused_total", [("port", String(port))], core.ports[port].counters.pauses)
        }
        text.family("f2f_port_mac_limit_refusals_total", .counter, help: "New source addresses not learned because the port held its MAC limit.")
        for port in active {
            text.sample("f2f_port_mac_limit_refusals_total", [("port", String(port))], core.ports[port].counters.macLimitRefusals)
        }
        text.family("f2f_mac_table_entries", .gauge, help: "Stations in the MAC table.")
        text.sample("f2f_mac_table_entries", [], core.macTable.count)
        text.family("f2f_mac_table_refused_total", .counter, help: "Source addresses not learned because the MAC table was full.")
        text.sample("f2f_mac_table_refused_total", [], core.macTable.refusedCount)
        if let tree = core.spanningTree {
            text.family("f2f_stp_port_role", .gauge, help: "The port's spanning-tree role: 1 for the current role, 0 for the others.")
            for port in active {
                let role = tree.ports[port]?.role ?? .disabled
                for candidate in STPPortRole.allCases {
                    text.sample("f2f_stp_port_role", [("port", String(port)), ("role", candidate.rawValue)], candidate == role ? 1 : 0)
                }
            }
        }
    }
}
