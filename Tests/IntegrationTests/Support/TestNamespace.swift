import Foundation
import Glibc

/// A network namespace a test creates (lo up) and removes, to run switches in and to filter
/// their traffic with nftables without touching the host's; names start with the suite's
/// prefix and the test process's pid, so parallel runs do not collide.
struct TestNamespace {
    let name: String

    init(_ name: String) throws {
        self.name = name
        _ = try? TestNamespace.command("/usr/sbin/ip", ["netns", "del", name])
        try TestNamespace.command("/usr/sbin/ip", ["netns", "add", name])
        try TestNamespace.command("/usr/sbin/ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"])
    }

    var launcher: [String] { ["/usr/sbin/ip", "netns", "exec", name] }

    @discardableResult
    func run(_ command: String, _ arguments: [String]) throws -> String {
        try TestNamespace.command("/usr/sbin/ip", ["netns", "exec", name, command] + arguments)
    }

    func nft(_ rule: String) throws {
        try run("nft", [rule])
    }

    func delete() {
        _ = try? TestNamespace.command("/usr/sbin/ip", ["netns", "del", name])
    }

    /// The local port of the switch `pid`'s TCP connection to `remotePort`, from `ss`.
    func tcpPort(of pid: Int32, to remotePort: UInt16) throws -> UInt16 {
        let lines = try run("ss", ["-Htnp", "state", "established"]).split(separator: "\n")
        for line in lines where line.contains("pid=\(pid),") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // Recv-Q Send-Q Local:Port Peer:Port Process (no State column with a state filter)
            guard fields.count >= 4, fields[3].hasSuffix(":\(remotePort)") else { continue }
            if let port = fields[2].split(separator: ":").last.flatMap({ UInt16($0) }) { return port }
        }
        throw TestFailure("no TCP connection of \(pid) to port \(remotePort)")
    }

    /// The port of the switch `pid`'s IPv4 UDP socket.
    func udpPort(of pid: Int32) throws -> UInt16 {
        let lines = try run("ss", ["-Hunap", "-4"]).split(separator: "\n")
        for line in lines where line.contains("pid=\(pid),") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 5, let port = fields[3].split(separator: ":").last.flatMap({ UInt16($0) }) { return port }
        }
        throw TestFailure("no UDP socket of \(pid)")
    }
}

extension TestNamespace {
    /// Runs a program to completion; its standard output, or a failure naming it.
    @discardableResult
    static func command(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("\(executable) \(arguments.joined(separator: " ")) failed") }
        return String(decoding: data, as: UTF8.self)
    }
}
