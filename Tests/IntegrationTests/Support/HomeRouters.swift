import Foundation

/// Runs a network tool (`ip`, `nft`, `sysctl`, …; a bare name is looked up in /usr/sbin) to
/// completion; a failure names the command line.
func runSbin(_ arguments: String..., quiet: Bool = false) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/sbin/" + arguments[0])
    process.arguments = Array(arguments.dropFirst())
    if quiet {
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
    }
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw TestFailure("\(arguments.joined(separator: " ")) failed") }
}

/// A home network in namespaces: `router`'s `wan` side is a port of the bridge `br0` in
/// `bridgeNamespace` (named `bridgePort` there) with `wanAddress`/24, its `lan` side reaches
/// `host`'s `eth0` on `lanPrefix`.0/24 (router .1, host .2, the host's default route through
/// the router), and the router forwards IPv4. Its NAT and firewall rules are the test's own.
func addIPv4Home(bridgeNamespace: String, bridgePort: String, router: String, host: String, wanAddress: String, lanPrefix: String) throws {
    try runSbin("ip", "-n", bridgeNamespace, "link", "add", bridgePort, "type", "veth", "peer", "name", "wan", "netns", router)
    try runSbin("ip", "-n", bridgeNamespace, "link", "set", bridgePort, "master", "br0", "up")
    try runSbin("ip", "-n", router, "addr", "add", "\(wanAddress)/24", "dev", "wan")
    try runSbin("ip", "-n", router, "link", "set", "wan", "up")
    try runSbin("ip", "-n", router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", host)
    try runSbin("ip", "-n", router, "addr", "add", "\(lanPrefix).1/24", "dev", "lan")
    try runSbin("ip", "-n", router, "link", "set", "lan", "up")
    try runSbin("ip", "-n", host, "addr", "add", "\(lanPrefix).2/24", "dev", "eth0")
    try runSbin("ip", "-n", host, "link", "set", "eth0", "up")
    try runSbin("ip", "-n", host, "route", "add", "default", "via", "\(lanPrefix).1")
    try runSbin("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
}
