import EthernetSwitch
import Foundation
import Glibc
import Testing

/// Unmodified VDE programs against f2f-switch: vde_plug, unixcmd, vde_switch.
@Suite(.serialized) struct InteropTests {
    @Test func vdePlugStreamClientExchangesFramesWithALibvdeplugClient() throws {
        let sw = try SwitchProcess()
        let plug = try VdePlugStream(url: "vde://" + sw.socketDirectory)
        try waitUntil(timeout: .seconds(5), "vde_plug to attach") { try sw.command("port/print 1").status == "1000 Success" }
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        #expect(try sw.command("port/print 1").data.last?.contains(": vdeplug: user=") == true)

        let fromPlugMAC = MACAddress(parsing: "02:00:00:00:00:0a")!
        var frame: [UInt8] = []
        EthernetHeader(destination: .broadcast, source: fromPlugMAC, etherType: 0x88B5).encode(into: &frame)
        frame += (0..<1500).map { UInt8($0 & 0xFF) }
        plug.send(frame)
        #expect(try client.receive() == frame)

        let reply = client.frame(to: fromPlugMAC, size: 1000, tag: 5)
        try client.send(reply)
        #expect(try plug.receive() == reply)
        try sw.stop()
    }

    @Test func unixcmdTalksToTheConsole() throws {
        let sw = try SwitchProcess()
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b", description: "unixcmd-witness")
        let unixcmd = try ChildProcess("unixcmd", ["-f", "/etc/vde2/vdecmd", "-s", sw.managementPath, "port/print"])
        let (_, output) = try unixcmd.finish()
        // Debian's unixcmd follows every copied line with a NUL.
        let lines = output.split(separator: "\0").map { $0.trimmingCharacters(in: .newlines) }
        #expect(lines.contains("Port 0001 untagged_vlan=0000 ACTIVE - Unnamed Allocatable"))
        #expect(lines.contains { $0.contains("unixcmd-witness") })
        client.close()
        try sw.stop()
    }

    @Test func consoleSpeaksTheVdetermFraming() throws {
        let sw = try SwitchProcess()
        let console = try sw.console()
        #expect(console.banner.hasSuffix("\nvde$ "))
        let help = try console.send("help")
        #expect(help.data.first == "COMMAND PATH       SYNTAX          HELP")
        #expect(help.data.contains { $0.hasPrefix("port/print ") })
        #expect(help.status == "1000 Success")
        let info = try console.send("port/showinfo")
        #expect(info.data == ["Numports=32", "HUB=false", "counters=true"])
        #expect(try console.send("port/print 9").raw == "0000 DATA END WITH '.'\n.\n1006 No such device or address\n\nvde$ ")
        #expect(try console.send("nonsense").raw == "1038 Function not implemented\n\nvde$ ")
        #expect(try console.send("hash/setexpire 0").status == "1022 Invalid argument")
        #expect(try console.send("hash/setexpire 60").status == "1000 Success")
        #expect(try console.send("hash/showinfo").data.contains("GC expire 60 secs"))
        // A second session at the same time.
        let second = try sw.console()
        #expect(try second.send("showinfo").data.contains { $0.hasPrefix("pid \(sw.pid) MAC ") })
        // Garbage and an over-long line do not hurt the switch.
        second.sendRaw(String(repeating: "\u{1}\u{2}garbage", count: 1000) + "\n")
        _ = try? second.readUntil("\nvde$ ", timeout: .seconds(2))
        console.sendRaw("logout\n")
        #expect(try console.readUntil("9999 END OF SESSION") == "9999 END OF SESSION")
        #expect(try sw.command("ds/showinfo").data == ["ctl dir \(sw.socketDirectory)", "std mode 0600"])
        try sw.stop()
    }

    @Test func consoleShutdownStopsTheSwitchAndCleansUp() throws {
        let sw = try SwitchProcess()
        let console = try sw.console()
        console.sendRaw("shutdown\n")
        _ = try console.readUntil("9999 END OF SESSION")
        try waitUntil(timeout: .seconds(5), "switch to exit") { !sw.isRunning }
        #expect(!FileManager.default.fileExists(atPath: sw.socketDirectory))
        #expect(!FileManager.default.fileExists(atPath: sw.managementPath))
    }

    @Test func plugCablesToARealVdeSwitchBothWays() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let vdeDirectory = work + "/vde"
        // Debian's vde_switch exits on EOF of stdin unless it is a daemon.
        // It daemonises: system() returns when the parent exits, the daemon holds no pipe of ours.
        #expect(ProcessLaunch.system("vde_switch -s \(vdeDirectory) -d -p \(work)/vde.pid </dev/null >/dev/null 2>&1") == 0)
        var vdePID: Int32 = 0
        try waitUntil(timeout: .seconds(5), "vde_switch pid file") {
            let text = (try? String(contentsOfFile: work + "/vde.pid", encoding: .utf8)) ?? ""
            vdePID = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return vdePID > 0 && FileManager.default.fileExists(atPath: vdeDirectory + "/ctl")
        }
        defer { kill(vdePID, SIGTERM) }

        let sw = try SwitchProcess(arguments: ["--plug", "vde://" + vdeDirectory])
        #expect(try sw.command("port/print 1").data.last?.contains("module vdeplug     : vde://\(vdeDirectory)") == true)
        let local = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let remote = try TestClient(vdeDirectory, mac: "02:00:00:00:00:0b")

        let out = local.frame(to: .broadcast, size: 1514, tag: 1)
        try local.send(out)
        #expect(try remote.receive() == out)
        let back = remote.frame(to: local.mac, size: 300, tag: 2)
        try remote.send(back)
        #expect(try local.receive() == back)
        try sw.stop()
    }
}

@Suite(.serialized) struct StartupAndShutdownTests {
    @Test func shutdownOnSignalRemovesEverythingItCreated() throws {
        for signal in [SIGTERM, SIGINT] {  // SIGHUP reloads the friends file (ServiceIntegrationTests)
            let sw = try SwitchProcess(arguments: ["-p", "PIDFILE"].map { $0 == "PIDFILE" ? "/tmp/f2ft-pid-\(getpid())-\(signal)" : $0 })
            let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
            #expect(FileManager.default.fileExists(atPath: "/tmp/f2ft-pid-\(getpid())-\(signal)"))
            sw.signal(signal)
            try waitUntil(timeout: .seconds(5), "switch to exit on signal \(signal)") { !sw.isRunning }
            #expect(!FileManager.default.fileExists(atPath: sw.socketDirectory))
            #expect(!FileManager.default.fileExists(atPath: sw.managementPath))
            #expect(!FileManager.default.fileExists(atPath: "/tmp/f2ft-pid-\(getpid())-\(signal)"))
            client.close()
        }
    }

    @Test func staleControlSocketIsReplacedButALiveSwitchIsNot() throws {
        let sw = try SwitchProcess()
        let ownKey = SwitchProcess.identityArguments(in: sw.workDirectory)
        // A second switch on the same directory must refuse and leave the first intact.
        let second = try ChildProcess(SwitchProcess.binaryPath, ["-s", sw.socketDirectory] + ownKey)
        let (status, _) = try second.finish()
        let message = String(decoding: second.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status != 0)
        #expect(message.contains("another switch is serving"))
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        client.close()

        // Kill it hard: ctl stays behind, stale. A new switch takes over.
        sw.signal(SIGKILL)
        try waitUntil(timeout: .seconds(5), "switch to die") { !sw.isRunning }
        #expect(FileManager.default.fileExists(atPath: sw.socketDirectory + "/ctl"))
        let successor = try ChildProcess(SwitchProcess.binaryPath, ["-s", sw.socketDirectory] + ownKey)
        try waitUntil(timeout: .seconds(5), "successor to serve") {
            (try? TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")) != nil
        }
        successor.terminate()
    }

    @Test func modesAndDirectoryModeFollowVdeSwitch() throws {
        let sw = try SwitchProcess(arguments: ["-m", "660"])
        var status = stat()
        #expect(stat(sw.socketDirectory, &status) == 0)
        #expect(status.st_mode & 0o7777 == 0o2770)
        #expect(stat(sw.socketDirectory + "/ctl", &status) == 0)
        #expect(status.st_mode & 0o777 == 0o660)
        try sw.stop()
    }

    @Test func badArgumentsGetAClearErrorAndNoSwitch() throws {
        let invalid = [
            ["--numports", "0"], ["--mode", "999"], ["--macaddr", "01:00:00:00:00:01"], ["--bogus"], ["--max-frame", "10"],
            ["--port-queue", "5000"], ["--moderation", "20000"], ["--stall-timeout", "0"], ["--stall-timeout", "nan"],
            // A plug into the switch's own directory would wait for the switch itself for ever.
            ["--plug", "vde:///tmp/f2ft-never-\(getpid())/"], ["--root-friends", "nobody"],
        ]
        for arguments in invalid {
            let child = try ChildProcess(SwitchProcess.binaryPath, arguments + ["-s", "/tmp/f2ft-never-\(getpid())"])
            let (status, _) = try child.finish()
            let message = String(decoding: child.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(status != 0, "\(arguments)")
            #expect(message.contains("Error"), "\(arguments): \(message)")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/f2ft-never-\(getpid())"))
        }
    }
}

@Suite(.serialized) struct DaemonModeTests {
    @Test func daemonWritesItsPidFileAppliesGroupAndModesAndCleansUp() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let directory = work + "/sw"
        let management = work + "/mgmt"
        let pidFile = work + "/pid"
        // system() returns when the parent exits; the daemon keeps no pipe of ours (Foundation's
        // Process never sees such a parent exit).
        let command = ([
            SwitchProcess.binaryPath, "-s", directory, "-M", management, "--mgmtmode", "660", "-m", "660",
            "-g", "daemon", "-d", "-p", pidFile,
        ] + SwitchProcess.identityArguments(in: work)).joined(separator: " ")
        #expect(ProcessLaunch.system(command + " </dev/null >/dev/null 2>&1") == 0)
        var pid: Int32 = 0
        try waitUntil(timeout: .seconds(5), "the daemon's pid file and sockets") {
            pid = Int32(((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return pid > 0 && FileManager.default.fileExists(atPath: directory + "/ctl") && FileManager.default.fileExists(atPath: management)
        }
        defer { kill(pid, SIGKILL) }
        let daemonGroup = try #require(getgrnam("daemon")).pointee.gr_gid
        var status = stat()
        #expect(stat(directory, &status) == 0)
        #expect(status.st_mode & 0o7777 == 0o2770)
        #expect(status.st_gid == daemonGroup)
        #expect(stat(directory + "/ctl", &status) == 0)
        #expect(status.st_mode & 0o777 == 0o660)
        #expect(status.st_gid == daemonGroup)
        #expect(stat(management, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o660)
        // It serves clients while detached, and leaves nothing behind on SIGTERM.
        let client = try TestClient(directory, mac: "02:00:00:00:00:01")
        client.close()
        kill(pid, SIGTERM)
        try waitUntil(timeout: .seconds(5), "the daemon to clean up") {
            !FileManager.default.fileExists(atPath: directory) && !FileManager.default.fileExists(atPath: pidFile)
                && !FileManager.default.fileExists(atPath: management)
        }
    }
}
