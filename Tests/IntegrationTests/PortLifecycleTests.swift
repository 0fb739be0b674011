import Foundation
import Glibc
import Testing

@Suite(.serialized) struct PortLifecycleTests {
    @Test func explicitPortIsHonouredAndATakenPortIsRefused() throws {
        let sw = try SwitchProcess()
        let first = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01", port: 7, description: "seven")
        let port = try sw.command("port/print 7")
        #expect(port.status == "1000 Success")
        #expect(port.data.first == "Port 0007 untagged_vlan=0000 ACTIVE - Unnamed Allocatable")
        #expect(port.data.last?.contains("module unix prog   : seven user=") == true)
        #expect(throws: (any Error).self) { try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:02", port: 7) }
        #expect(throws: (any Error).self) { try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:02", port: 32) }
        // The switch is unharmed: an automatic port still works.
        let other = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:03")
        try other.send(other.frame(to: .broadcast))
        #expect(try first.receive() != nil)
        try sw.stop()
    }

    @Test func portIsFreedWithItsSocketAndStationsWhenTheClientLeaves() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        try a.send(a.frame(to: .broadcast))
        _ = try b.receive()
        #expect(sw.filesInSocketDirectory().count == 3)
        a.close()
        try waitUntil(timeout: .seconds(5), "port 1 to go") { try sw.command("port/print 1").status.hasPrefix("1006") }
        #expect(sw.filesInSocketDirectory().count == 2)
        #expect(try !sw.command("hash/print").data.contains { $0.contains("02:00:00:00:00:0a") })
        // The freed port is handed out again.
        let c = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0c")
        #expect(try sw.command("port/print 1").status == "1000 Success")
        c.close()
        try sw.stop()
    }

    @Test func hundredRapidConnectDisconnectCyclesLeakNothing() throws {
        let sw = try SwitchProcess()
        let witness = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01")
        for cycle in 0..<100 {
            let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:01:\(String(cycle % 100))")
            client.close()
        }
        try waitUntil(timeout: .seconds(10), "all cycled ports to be freed") {
            try sw.command("port/print").data.filter { $0.hasPrefix("Port ") }.count == 1
        }
        #expect(sw.filesInSocketDirectory() == ["001.1", "ctl"])
        let next = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:02")
        try next.send(next.frame(to: .broadcast))
        #expect(try witness.receive() != nil)
        #expect(try sw.command("port/print 2").status == "1000 Success")
        try sw.stop()
    }

    @Test func consolePortRemoveDisconnectsTheClient() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        #expect(try sw.command("port/remove 1").status == "1000 Success")
        #expect(try sw.command("port/remove 1").status == "1006 No such device or address")
        #expect(try sw.command("port/remove 99").status == "1022 Invalid argument")
        // The client's control stream is closed: its ctl fd reads EOF.
        var byte: UInt8 = 0
        var poller = pollfd(fd: a.connection.controlDescriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 5000) == 1)
        #expect(recv(a.connection.controlDescriptor, &byte, 1, 0) == 0)
        try sw.stop()
    }
}
