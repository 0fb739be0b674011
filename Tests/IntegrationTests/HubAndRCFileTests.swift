import EthernetSwitch
import Foundation
import Glibc
import Testing

/// vde_switch's `-x` (hub) and `-f` (start-up file), on real processes and libvdeplug clients.
@Suite(.serialized) struct HubAndRCFileTests {
    // MARK: Hub mode

    /// The same scenario on Debian's vde_switch, with and without -x, must give the same result.
    @Test(arguments: [false, true])
    func aUnicastBetweenTwoClientsReachesAThirdOnlyInHubModeAsOnVdeSwitch(hub: Bool) throws {
        let sw = try SwitchProcess(arguments: ["--plaintext"] + (hub ? ["-x"] : []))
        let (toB, seenByC) = try unicastBetweenTwoSeenByAThird(on: sw.socketDirectory) {
            let table = try sw.command("hash/print").data
            #expect(table.contains { $0.contains("02:00:00:00:00:0a") } == !hub, "a hub learns nothing")
        }
        #expect(seenByC == (hub ? [toB] : []), "hub \(hub)")
        #expect(try sw.command("port/showinfo").data.contains("HUB=\(hub)"))
        try sw.stop()

        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let directory = work + "/vde"
        // Daemonised, so that it neither waits on our stdin nor holds a pipe of ours.
        let command = "vde_switch \(hub ? "-x " : "")-s \(directory) -d -p \(work)/vde.pid </dev/null >/dev/null 2>&1"
        try #require(ProcessLaunch.system(command) == 0, "\(command)")
        var vdePID: Int32 = 0
        try waitUntil(timeout: .seconds(5), "vde_switch pid file") {
            let text = (try? String(contentsOfFile: work + "/vde.pid", encoding: .utf8)) ?? ""
            vdePID = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return vdePID > 0 && FileManager.default.fileExists(atPath: directory + "/ctl")
        }
        defer { kill(vdePID, SIGTERM) }
        let (vdeToB, vdeSeenByC) = try unicastBetweenTwoSeenByAThird(on: directory)
        #expect(vdeSeenByC == (hub ? [vdeToB] : []), "vde_switch, hub \(hub)")
        #expect(seenByC.count == vdeSeenByC.count)
    }

    /// A and B announce themselves (a switch then knows both), A sends B a unicast; returns
    /// it and what a third client C saw of it. `whileAttached` runs before the clients leave.
    private func unicastBetweenTwoSeenByAThird(
        on directory: String, whileAttached: () throws -> Void = {}
    ) throws -> (toB: [UInt8], seenByC: [[UInt8]]) {
        let a = try TestClient(directory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(directory, mac: "02:00:00:00:00:0b")
        let c = try TestClient(directory, mac: "02:00:00:00:00:0c")
        defer { [a, b, c].forEach { $0.close() } }
        for (client, others, tag) in [(a, [b, c], UInt8(1)), (b, [a, c], UInt8(2))] {
            let hello = client.frame(to: .broadcast, tag: tag)
            try client.send(hello)
            for other in others { #expect(try other.receive() == hello) }
        }
        let toB = a.frame(to: b.mac, tag: 3)
        try a.send(toB)
        #expect(try b.receive() == toB)
        let marker = a.frame(to: .broadcast, tag: 99)
        try a.send(marker)
        let seenByC = try c.framesBefore(marker)
        try whileAttached()
        return (toB, seenByC)
    }

    // MARK: rcfile

    @Test func commandsInTheRCFileTakeEffectBeforeClientsCome() throws {
        let files = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: files) }
        let rcFile = files + "/switch.rc"
        try """
            # f2f-switch start-up file, vde_switch's syntax

              stp/setprio 4096
            hash/setexpire 20\r
            \t# the third port floods few broadcasts
            port/setstorm 3 bcast 50
            port/sethub 1
            """.write(toFile: rcFile, atomically: false, encoding: .utf8)
        let sw = try SwitchProcess(arguments: ["--plaintext", "-f", rcFile])
        #expect(try sw.command("hash/showinfo").data.contains("GC expire 20 secs"))
        let tree = try sw.command("stp/print").data.joined(separator: "\n")
        #expect(tree.contains("bridge 1000."), "\(tree)")
        let port = try sw.command("port/allprint 3").data.joined(separator: "\n")
        #expect(port.contains("bcast 50/s"), "\(port)")
        #expect(try sw.command("port/showinfo").data.contains("HUB=true"))
        // And back from the console, as vde_switch's port/sethub.
        #expect(try sw.command("port/sethub 0").status == "1000 Success")
        #expect(try sw.command("port/showinfo").data.contains("HUB=false"))
        #expect(try sw.command("port/sethub 2").status == "1022 Invalid argument")
        try sw.stop()
    }

    /// A vde_switch start-up file that makes ports with `port/create` and puts them in a
    /// VLAN runs unchanged: clients that come later to those ports are in the VLAN, and a
    /// client that asks for no port is not given a made one.
    @Test func anRCFileMakesPortsAndSetsTheirVLANsBeforeClientsCome() throws {
        let files = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: files) }
        let rcFile = files + "/switch.rc"
        try "vlan/create 10\nport/create 1\nport/setvlan 1 10\nport/create 2\nport/setvlan 2 10\n"
            .write(toFile: rcFile, atomically: false, encoding: .utf8)
        let sw = try SwitchProcess(arguments: ["--plaintext", "-f", rcFile])
        let inTen = try TestClient(sw.socketDirectory, mac: "02:00:00:00:10:01", port: 1)
        let alsoInTen = try TestClient(sw.socketDirectory, mac: "02:00:00:00:10:02", port: 2)
        let unplaced = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:03")
        defer { [inTen, alsoInTen, unplaced].forEach { $0.close() } }
        #expect(try sw.command("port/print 3").data.first == "Port 0003 untagged_vlan=0000 ACTIVE - Unnamed Allocatable")
        #expect(try sw.command("port/print 1").data.first == "Port 0001 untagged_vlan=0010 ACTIVE - Unnamed Allocatable")
        let broadcast = MACAddress(parsing: "ff:ff:ff:ff:ff:ff")!
        let hello = inTen.frame(to: broadcast, tag: 0x10)
        try inTen.send(hello)
        #expect(try alsoInTen.receive() == hello)
        #expect(try unplaced.receive(timeout: .milliseconds(500)) == nil)
        #expect(try sw.command("port/create 1").status == "1017 File exists")
        #expect(try sw.command("vlan/remove 10").status == "1098 Address already in use")
        try sw.stop()
    }

    @Test func aFailingLineStopsTheStartNamingItsLineAndLeavesNothingBehind() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let rcFile = work + "/switch.rc"
        try "# settings\nhash/setexpire 20\n\nstp/setprio 4095\nshutdown\n".write(toFile: rcFile, atomically: false, encoding: .utf8)
        // Without -M too: the file runs through the console all the same.
        let (status, errors) = try runSwitch(["-s", work + "/sw", "--plaintext", "-f", rcFile])
        #expect(status != 0)
        #expect(errors.contains("\(rcFile):4: 'stp/setprio 4095': 1022 Invalid argument"), "\(errors)")
        #expect(!FileManager.default.fileExists(atPath: work + "/sw"), "the socket directory is removed")

        try "hash/setexpire 20\nno/such/command 1\n".write(toFile: rcFile, atomically: false, encoding: .utf8)
        let (status2, errors2) = try runSwitch(["-s", work + "/sw", "-M", work + "/mgmt", "--plaintext", "-f", rcFile])
        #expect(status2 != 0)
        #expect(errors2.contains("\(rcFile):2: 'no/such/command 1': 1038 Function not implemented"), "\(errors2)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: work) == ["switch.rc"], "no socket directory, no console socket")
    }

    @Test func aShutdownLineStopsTheSwitchCleanlyOnceSetUp() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let rcFile = work + "/switch.rc"
        try "hash/setexpire 20\nshutdown\nno/such/command\n".write(toFile: rcFile, atomically: false, encoding: .utf8)
        let (status, errors) = try runSwitch(["-s", work + "/sw", "--plaintext", "-f", rcFile])
        #expect(status == 0, "\(errors)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: work) == ["switch.rc"])
    }

    @Test func anRCFileOthersCanWriteIsRefused() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let rcFile = work + "/switch.rc"
        try "hash/setexpire 20\n".write(toFile: rcFile, atomically: false, encoding: .utf8)
        for permissions: mode_t in [0o646, 0o664] {
            chmod(rcFile, permissions)
            let (status, errors) = try runSwitch(["-s", work + "/sw", "--plaintext", "-f", rcFile])
            #expect(status != 0)
            #expect(errors.contains("\(rcFile) is writable by group or others"), "\(errors)")
            #expect(!FileManager.default.fileExists(atPath: work + "/sw"))
        }
        let (status, errors) = try runSwitch(["-s", work + "/sw", "--plaintext", "-f", work + "/missing.rc"])
        #expect(status != 0)
        #expect(errors.contains("missing.rc"), "\(errors)")
    }

    /// Runs a switch expected to exit by itself; returns its exit status and log.
    private func runSwitch(_ arguments: [String]) throws -> (Int32, String) {
        let child = try ChildProcess(SwitchProcess.binaryPath, arguments)
        let (status, _) = try child.finish(timeout: .seconds(10))
        return (status, child.errorText)
    }
}
