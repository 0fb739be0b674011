import Foundation
import Glibc
import Testing

/// What systemd sees of the switch: readiness and stopping over `NOTIFY_SOCKET`, and SIGHUP
/// re-reading the friends file in place of a restart.
@Suite(.serialized) struct ServiceIntegrationTests {
    /// A unix datagram socket bound where the test says systemd's would be.
    final class NotifyReceiver {
        let path: String
        let descriptor: Int32

        init(path: String) throws {
            self.path = path
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
        }

        /// The next datagram, or nil after `timeout`.
        func receive(timeout: Duration = .seconds(10)) -> String? {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeout.components.seconds * 1000)) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }

        deinit {
            close(descriptor)
            unlink(path)
        }
    }

    @Test func readinessAndStoppingReachTheNotifySocket() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let receiver = try NotifyReceiver(path: work + "/notify")
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = receiver.path
        let switchProcess = try ChildProcess(
            SwitchProcess.binaryPath, ["-s", work + "/sw", "-M", work + "/mgmt", "--identity", work + "/identity"], environment: environment)
        let ready = try #require(receiver.receive(), "no READY=1 from the switch")
        #expect(ready.split(separator: "\n").first == "READY=1", "\(ready)")
        #expect(ready.contains("STATUS=switch ready"))
        // Ready means serving: the control socket and the console are there.
        #expect(FileManager.default.fileExists(atPath: work + "/sw/ctl"))
        #expect(FileManager.default.fileExists(atPath: work + "/mgmt"))
        #expect(try ConsoleClient(path: work + "/mgmt").send("friend/print").status.hasPrefix("1000"))

        // SIGHUP: a reload, announced as such, and the switch stays.
        kill(switchProcess.process.processIdentifier, SIGHUP)
        #expect(receiver.receive() == "RELOADING=1")
        #expect(receiver.receive() == "READY=1")
        #expect(switchProcess.process.isRunning)

        kill(switchProcess.process.processIdentifier, SIGTERM)
        #expect(receiver.receive() == "STOPPING=1")
        let (status, _) = try switchProcess.finish()
        #expect(status == 0)
    }

    @Test func sighupAdmitsAFriendAddedToTheFileAndClosesTheLinkOfOneRemoved() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let friendsPath = friends.directory + "/friends-of-a"
        try "# nobody yet\n".write(toFile: friendsPath, atomically: false, encoding: .utf8)
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--identity", friends.keyPaths[0], "--friends", friendsPath])
        // b has a as a friend and keeps dialling it; a does not know b yet.
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--identity", friends.keyPaths[1]])
        try waitUntil(timeout: .seconds(10), "a to refuse the stranger b") {
            try a.command("limits/print").data.contains { $0.hasPrefix("strangers-refused ") && !$0.hasPrefix("strangers-refused 0 ") }
        }
        #expect(try a.establishedPeerCount() == 0)

        try "# b, added while a runs\n\(friends.ids[1])  # b\n".write(toFile: friendsPath, atomically: false, encoding: .utf8)
        a.signal(SIGHUP)
        try a.waitForPeers(1, timeout: .seconds(30))
        #expect(try a.command("friend/print").data.contains { $0.hasPrefix("Friend \(friends.ids[1]) LINKED") })

        try "# b removed again\n".write(toFile: friendsPath, atomically: false, encoding: .utf8)
        a.signal(SIGHUP)
        try a.waitForPeers(0)
        #expect(try a.command("friend/print").data == ["Self \(friends.ids[0])"])
        #expect(a.isRunning, "SIGHUP reloads, it does not stop the switch")
        let log = try a.stop().log
        #expect(log.contains("friends reloaded") && log.contains("no longer a friend"), "\(log)")
        try b.stop()
    }

    @Test func aFriendsFileThatNoLongerParsesChangesNothing() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 2)
        let friendsPath = friends.directory + "/friends-of-a"
        try "\(friends.ids[1])\n".write(toFile: friendsPath, atomically: false, encoding: .utf8)
        let a = try SwitchProcess(
            arguments: ["--listen", "127.0.0.1:\(port)", "--identity", friends.keyPaths[0], "--friends", friendsPath], logToFile: true)
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--identity", friends.keyPaths[1]])
        try a.waitForPeers(1)
        try "not-an-id\n".write(toFile: friendsPath, atomically: false, encoding: .utf8)
        a.signal(SIGHUP)
        try waitUntil(timeout: .seconds(5), "the reload to be refused") { a.currentLog().contains("friends not reloaded") }
        #expect(try a.establishedPeerCount() == 1, "the friend keeps its link")
        #expect(try a.command("friend/print").data.contains { $0.hasPrefix("Friend \(friends.ids[1]) LINKED") })
        try a.stop()
        try b.stop()
    }

    @Test func theTemplateUnitPassesSystemdAnalyzeVerify() throws {
        var components = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/IntegrationTests/ServiceIntegrationTests.swift
        let template = try String(contentsOfFile: components.joined(separator: "/") + "/Scripts/service/f2f-switch@.service", encoding: .utf8)
        for line in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet="] {
            #expect(template.contains("\n" + line + "\n"), "\(line)")
        }
        #expect(template.contains("--rcfile /etc/f2f-switch/%i.rc") && template.contains("EnvironmentFile=-/etc/f2f-switch/%i.env"))

        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let binaries = URL(fileURLWithPath: SwitchProcess.binaryPath).deletingLastPathComponent().path
        try template.replacingOccurrences(of: "@BINDIR@", with: binaries).write(toFile: work + "/f2f-switch@.service", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: work + "/f2f-switch@test.service", withDestinationPath: "f2f-switch@.service")
        let verify = try ChildProcess("systemd-analyze", ["verify", work + "/f2f-switch@test.service"])
        let (status, _) = try verify.finish(timeout: .seconds(30))
        let complaints = verify.errorText.split(separator: "\n").filter { $0.contains("f2f-switch@") }
        #expect(status == 0 && complaints.isEmpty, "\(complaints)")
    }
}
