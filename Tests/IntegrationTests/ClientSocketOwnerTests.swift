import EthernetSwitch
import Foundation
import Glibc
import Testing

/// A switch running as root connects a client's data socket only if the socket belongs to the
/// client that asked (SO_PEERCRED on the control stream), found without following symlinks:
/// a user cannot make it deliver frames to a root-only socket.
@Suite(.serialized) struct ClientSocketOwnerTests {
    /// A VDE request naming PATH as the client's socket, sent on CTL by whoever runs it; with
    /// "bind" it first binds PATH itself and, once served, waits for one frame there.
    static let requester = """
        import socket, struct, sys
        ctl, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
        own = None
        if mode == "bind":
            own = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            own.bind(path)
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.connect(ctl)
        address = struct.pack("<H", 1) + path.encode().ljust(108, b"\\0")
        control.sendall(struct.pack("<III", 0xFEEDFACE, 3, 0) + address + b"requester")
        control.settimeout(5)
        reply = b""
        try:
            while len(reply) < 110:
                chunk = control.recv(110 - len(reply))
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            pass
        print("reply", len(reply), flush=True)
        if own is not None and len(reply) == 110:
            own.settimeout(10)
            try:
                frame = own.recv(65536)
                while frame[:6] == bytes.fromhex("0180c2000000"):  # the switch's hellos
                    frame = own.recv(65536)
                print("frame", len(frame), flush=True)
            except socket.timeout:
                print("no frame", flush=True)
        """

    @Test(.enabled(if: geteuid() == 0, "needs root: the test creates a user and runs a root switch (CI runs as root)"))
    func aClientNamingAnotherUsersSocketIsRefusedAndItsOwnSocketWorks() throws {
        let user = try ThrowawayUser()
        let sw = try SwitchProcess(arguments: ["-m", "0666"])
        chmod(sw.workDirectory, 0o755)  // the user reaches ctl and the data sockets
        let ctl = sw.socketDirectory + "/ctl"

        // A root-only datagram socket, as a root daemon would have one.
        let victimDirectory = sw.workDirectory + "/root-only"
        mkdir(victimDirectory, 0o755)
        let victimPath = victimDirectory + "/victim"
        let victim = try DatagramReceiver(path: victimPath)
        // The user's own directory, with a symlink to the victim in it.
        let home = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: home) }
        chmod(home, 0o755)
        let script = home + "/requester.py"
        try Self.requester.write(toFile: script, atomically: true, encoding: .utf8)
        chown(home, user.userID, user.groupID)
        symlink(victimPath, home + "/link")

        for named in [victimPath, home + "/link"] {
            let output = try user.run("/usr/bin/python3", [script, ctl, named, "name"]).output
            #expect(output == "reply 0\n", "\(named): the switch closes the control stream without a reply")
        }
        // Nothing was connected to the victim: a broadcast from a local client never reaches it.
        let witness = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        try witness.send(witness.frame(to: .broadcast))
        #expect(victim.receive(timeout: .seconds(1)) == nil, "a frame reached the root-only socket")
        try waitUntil(timeout: .seconds(5), "the refusals to be counted") {
            try sw.command("limits/print").data.contains("client-sockets not the client's refused 2")
        }

        // The user's own socket is served, and frames reach it.
        let requester = try ChildProcess("setpriv", user.setprivArguments + ["/usr/bin/python3", script, ctl, home + "/own", "bind"])
        try waitUntil(timeout: .seconds(5), "the user's client to attach") {
            try sw.command("port/print").data.contains { $0.contains("Current User: \(user.name) ") }
        }
        try witness.send(witness.frame(to: .broadcast, tag: 1))
        #expect(try requester.finish().output == "reply 110\nframe 60\n")

        // So is a real vde_plug run by that user.
        let plug = try ChildProcess("setpriv", user.setprivArguments + ["/usr/bin/vde_plug", "vde://" + sw.socketDirectory])
        defer { plug.terminate() }
        try waitUntil(timeout: .seconds(5), "vde_plug run by \(user.name) to attach") {
            try sw.command("port/print").data.contains { $0.contains("Current User: \(user.name) ") }
        }
        let log = try sw.stop().log
        #expect(log.contains("refused VDE client") && log.contains("belongs to uid 0, not to the client's uid \(user.userID)"), "\(log)")
        #expect(log.contains("is not a socket"), "the symlink is refused as what it is: \(log)")
    }
}

/// A bound datagram socket a test reads from with a deadline.
final class DatagramReceiver {
    let descriptor: Int32

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw TestFailure("cannot bind \(path)") }
    }

    /// The size of the next datagram, or nil if none arrives in time.
    func receive(timeout: Duration) -> Int? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout / .milliseconds(1))) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count >= 0 ? count : nil
    }

    deinit {
        close(descriptor)
    }
}
