import F2FBase
import F2FPortMapping
import SwitchRuntime

/// `nat/*`: what this node does about the NAT in front of it. Observed addresses and direct
/// links are per friend, in `peer/print`; here is the port mapping on the home router
/// (`--map-port`, docs/nat-traversal.md).
enum NATConsoleCommands {
    static func register(on console: Console, now: @escaping () -> Instant, portMapper: @escaping () -> PortMapper?) {
        console.addMenu(ConsoleMenu("nat", title: "NAT TRAVERSAL MENU"))
        console.add(ConsoleCommand("nat/print", help: "the port mapping on the home router (--map-port): state, ports, counters, last error", printsData: true) { _ in
            guard let mapper = portMapper() else { return ["port-mapping off (--map-port not given)"] }
            var lines = mapper.statusLines(now: now())
            lines.append("advertised \(mapper.externalUDPEndpoint.map(String.init(describing:)) ?? "-")")
            return lines
        })
    }
}
