@testable import F2FSecure
import Foundation
import Glibc
import Testing

/// What a stranger can do before authenticating, on real processes: hold connections open,
/// trickle bytes, start handshakes, exhaust descriptors, and put control characters in what
/// the switch logs (issue 19, items 3 and 4).
@Suite(.serialized) struct PreAuthenticationTests {
    /// The issue's attack from one address: 8 silent connections and 8 that send a byte a
    /// second, each reopened as soon as the switch closes it, at most 6 new ones a second. On
    /// a first-come pool of 16 a friend's dial rarely finds a free place; here the attacker's
    /// address holds at most 4 places and silence ends after a second.
    ///
    /// From 8 source addresses the attacker asks for more than the pool's 16 places: then the
    /// pool evicts its oldest (silent first) for each newcomer, and the friend still links.
    @Test(arguments: [1, 8])
    func aStrangerHoldingPreAuthConnectionsDoesNotStopAFriendFromLinking(sourceCount: Int) throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0), logToFile: true)
        let b = try SwitchProcess(arguments: friends.member(1))
        let link = FriendLinkAttempt(a: a, b: b, peerLine: friends.pinned(0, port: port), port: port)

        // A friend relinks a few times a second at most here, within its own address's handshake rate.
        let idle = try (0..<10).map { _ in try link.attempt(spacing: .milliseconds(300)) }
        let sources = (2..<(2 + sourceCount)).map { "127.0.0.\($0)" }
        // From 8 addresses, 3 new connections a second each: more than the pool holds.
        let holding = sourceCount == 1 ? 8 : 16
        let rate = sourceCount == 1 ? 3.0 : 12
        let silent = PreAuthAttacker(port: port, sources: sources, holding: holding, rate: rate, trickle: false)
        let trickling = PreAuthAttacker(port: port, sources: sources, holding: holding, rate: rate, trickle: true)
        // Until the attack is at full strength: 16 connections opened.
        try waitUntil(timeout: .seconds(15), "the attackers to open 16 connections") {
            silent.connectionsOpened + trickling.connectionsOpened >= 16
        }
        let attacked = try (0..<20).map { _ in try link.attempt(spacing: .milliseconds(300)) }
        silent.stop()
        trickling.stop()

        let idleTimes = idle.compactMap { $0 }
        let attackedTimes = attacked.compactMap { $0 }
        print("""
            pre-auth attack from \(sourceCount) address(es): friend links idle \(idleTimes.count)/10, median \(FriendLinkAttempt.median(idleTimes)); \
            under attack \(attackedTimes.count)/20, median \(FriendLinkAttempt.median(attackedTimes)), \
            max \(attackedTimes.max().map(String.init(describing:)) ?? "-"); attacker opened \
            \(silent.connectionsOpened + trickling.connectionsOpened) connections
            """)
        #expect(idleTimes.count == 10)
        #expect(attackedTimes.count >= 16, "friend links under attack: \(attacked)")
        let limits = try a.command("limits/print").data
        print(limits.filter { $0.hasPrefix("pending-") || $0.hasPrefix("first-message") || $0.hasPrefix("handshake") }.joined(separator: "\n"))
        let evicted = limits.first { $0.hasPrefix("pending-evicted ") } ?? ""
        let silenced = limits.first { $0.hasPrefix("first-message-timeout ") } ?? ""
        #expect(evicted != "pending-evicted pool-full 0 per-source 0" || !silenced.hasSuffix("timed-out 0"), "\(limits)")
        try b.stop()
        let log = try a.stop().log
        let warnings = log.split(separator: "\n").filter { $0.contains("closing unauthenticated connection") }
        #expect(warnings.count <= 60, "rate-limited: \(warnings.count) lines")
    }

    /// A stranger that sends whole first messages as fast as it can gets only the per-source
    /// budget of answers (each answer costs the switch two Diffie-Hellman operations): by
    /// default a burst of 10, then 5 a second.
    @Test func handshakeInitiationsFromOneSourceAreRateLimited() throws {
        let port = try TCPPorts.free()
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"])
        let attempts = 40
        var answered = 0
        let started = ContinuousClock.now
        for _ in 0..<attempts {
            var stranger = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: SecureConnection.prologue)
            let fd = try TCPPorts.connect(port: port)
            defer { close(fd) }
            try sendRecord(try stranger.writeMessage(), on: fd)
            if (try? receiveRecord(from: fd)) != nil { answered += 1 }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        #expect(answered >= 10 && answered <= 10 + Int(5 * seconds) + 1, "\(answered) of \(attempts) answered in \(seconds) s")
        let limits = try a.command("limits/print").data
        #expect(limits.contains("handshake-rate 100.0/s per-source 5.0/s refused \(attempts - answered)"), "\(limits)")
        try a.stop()
    }

    /// The issue's descriptor exhaustion: connections nobody finishes, under a low descriptor
    /// limit. The listeners rest instead of spinning on EMFILE, the log stays short, and the
    /// switch serves again once the connections are gone.
    @Test func outOfDescriptorsTheSwitchRestsLogsLittleAndRecovers() throws {
        let port = try TCPPorts.free()
        let a = try SwitchProcess(
            arguments: ["--listen", "127.0.0.1:\(port)"], launcher: ["/usr/bin/prlimit", "--nofile=64:64", "--"], logToFile: true)
        var held: [Int32] = []
        defer { held.forEach { close($0) } }
        // ctl clients first (each holds a descriptor in the switch for 5 s), then the console
        // and the peer listener find none left.
        for _ in 0..<100 {
            if let fd = UnixStream.connectWithoutWaiting(a.socketDirectory + "/ctl") { held.append(fd) }
        }
        for _ in 0..<24 {
            if let fd = UnixStream.connectWithoutWaiting(a.managementPath) { held.append(fd) }
        }
        for _ in 0..<24 {
            if let fd = try? TCPPorts.connect(port: port) { held.append(fd) }
        }
        try waitUntil(timeout: .seconds(5), "the switch to run out of descriptors") {
            let log = a.currentLog()
            return log.contains("accept failed") || log.contains("cannot accept")
        }
        let cpuBefore = try a.cpuTime()
        let linesBefore = a.currentLog().split(separator: "\n").count
        usleep(3_000_000)
        let cpu = try a.cpuTime() - cpuBefore
        let lines = a.currentLog().split(separator: "\n").count - linesBefore
        print("descriptor exhaustion: \(cpu) CPU and \(lines) log lines in 3 s")
        #expect(cpu < .milliseconds(600), "the switch must not spin: \(cpu) of CPU in 3 s")
        // At most 10 lines per kind per 10 s, and one line per shortage for each listener.
        #expect(lines <= 30, "bounded logging: \(lines) lines in 3 s")
        #expect(a.isRunning)

        held.forEach { close($0) }
        held.removeAll()
        try waitUntil(timeout: .seconds(10), "the console to answer again") {
            (try? a.command("limits/print")) != nil
        }
        let client = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01")
        _ = client
        let limits = try a.command("limits/print").data
        let paused = (limits.first { $0.hasPrefix("accept-paused ") } ?? "").split(separator: " ")
        #expect(paused.count == 7 && !paused.contains("0"), "each listener rested: \(limits)")
        let log = try a.stop().log
        let total = log.split(separator: "\n").count
        #expect(total <= 150, "\(total) log lines in all")
    }

    @Test func consoleSessionsAreCapped() throws {
        let a = try SwitchProcess()
        let open = try (0..<16).map { _ in try a.console() }
        let extra = try ConsoleClient(path: a.managementPath)
        #expect(extra.banner.isEmpty, "the 17th session is closed at once, without a banner")
        extra.close()
        open.forEach { $0.close() }
        // A command may race the switch noticing the closed sessions (and be refused itself).
        var line = ""
        try waitUntil(timeout: .seconds(5), "the sessions to be closed") {
            line = (try? a.command("limits/print"))?.data.first { $0.hasPrefix("console-sessions 16 now 1 refused ") } ?? ""
            return !line.isEmpty
        }
        #expect(line.split(separator: " ").last.flatMap { Int($0) }.map { $0 >= 1 } == true, "\(line)")
        try a.stop()
    }

    /// A friend's hello name and a VDE client's description with a newline and terminal
    /// escapes: logged escaped, so they forge no line and reach no terminal.
    @Test func namesAndDescriptionsFromOthersAreLoggedEscaped() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--name", "evil\nINFO forged\u{1B}[31m"] + friends.member(1))
        try a.waitForPeers(1)
        let client = try TestClient(a.socketDirectory, mac: "02:00:00:00:0a:01", description: "qemu\nWARNING forged\u{1B}]0;title\u{7}")
        try waitUntil(timeout: .seconds(5), "the client's port") {
            try a.command("port/print").data.contains { $0.contains("endpoint ID") }
        }
        #expect(try a.command("port/print").data.contains { $0.contains("qemu\\x0aWARNING forged\\x1b]0;title\\x07") })
        #expect(try a.command("peer/print").data.contains { $0.contains("evil\\x0aINFO forged\\x1b[31m@") })
        _ = client
        try b.stop()
        let log = try a.stop().log
        #expect(log.contains("evil\\x0aINFO forged\\x1b[31m"), "\(log)")
        #expect(log.contains("qemu\\x0aWARNING forged\\x1b]0;title\\x07"), "\(log)")
        #expect(!log.unicodeScalars.contains("\u{1B}"), "no terminal escape reaches the log")
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("INFO forged") || $0.hasPrefix("WARNING forged") })
    }

    /// The log handler escapes every line, also text that no code escaped where it entered
    /// (here a key path given on the command line).
    @Test func everyLogLineIsEscapedByTheLogHandler() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let a = try SwitchProcess(arguments: ["--identity", directory + "/key\nERROR forged\u{1B}[2J"])
        let log = try a.stop().log
        #expect(log.contains("key\\x0aERROR forged\\x1b[2J"), "\(log)")
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("ERROR forged") })
    }
}

/// One friend link on demand: `peer/add` on b, timed until b reports it established, then
/// `peer/del` and wait until both sides have let go.
struct FriendLinkAttempt {
    let a: SwitchProcess
    let b: SwitchProcess
    let peerLine: String
    let port: UInt16

    /// The link time, or nil if it did not come up within `timeout`.
    func attempt(timeout: Duration = .seconds(3), spacing: Duration = .zero) throws -> Duration? {
        let started = ContinuousClock.now
        defer {
            let next = started + spacing
            if ContinuousClock.now < next { usleep(UInt32((next - ContinuousClock.now) / .microseconds(1))) }
        }
        let added = try b.command("peer/add \(peerLine)")
        guard added.status == "1000 Success" else { throw TestFailure("peer/add: \(added.status)") }
        var linked: Duration?
        while ContinuousClock.now - started < timeout {
            if try b.establishedPeerCount() == 1 {
                linked = ContinuousClock.now - started
                break
            }
            usleep(2_000)
        }
        _ = try b.command("peer/del 127.0.0.1:\(port)")
        try waitUntil(timeout: .seconds(5), "both sides to drop the link") {
            try b.establishedPeerCount() == 0 && a.establishedPeerCount() == 0
        }
        return linked
    }

    static func median(_ times: [Duration]) -> String {
        guard !times.isEmpty else { return "-" }
        let sorted = times.sorted()
        return "\(sorted[sorted.count / 2])"
    }
}

enum UnixStream {
    /// A connection to a listening unix stream socket that never blocks: nil when the backlog is full.
    static func connectWithoutWaiting(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 || errno == EINPROGRESS else {
            close(fd)
            return nil
        }
        return fd
    }
}
