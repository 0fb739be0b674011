import Foundation
import Glibc
import Testing

/// The identity key file and the friends file, through the real binary.
@Suite struct IdentityTests {
    @Test func idCreatesAnOwnerOnlyKeyOnceAndPrintsTheSameIDEachTime() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/config/f2f-switch/identity"
        let first = try FriendGroup.createIdentity(at: path)
        #expect(try FriendGroup.createIdentity(at: path) == first)
        #expect(try mode(of: path) == 0o600)
        #expect(try mode(of: directory + "/config/f2f-switch") == 0o700)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("# id: \(first)"))
    }

    @Test func aKeyOthersCanReadIsRefused() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/identity"
        _ = try FriendGroup.createIdentity(at: path)
        chmod(path, 0o644)
        let run = try ChildProcess(SwitchProcess.binaryPath, ["id", "--identity", path])
        let (status, output) = try run.finish()
        let errors = String(decoding: run.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status != 0 && output.isEmpty)
        #expect(errors.contains("accessible by others") && errors.contains("chmod 600 \(path)"), "\(errors)")
    }

    @Test func aFriendsFileAdmitsItsIDsAndABadLineStopsTheStart() throws {
        let friends = try FriendGroup(count: 2)
        let file = friends.directory + "/friends"
        try "# our friends\n\n\(friends.ids[1]) bob's laptop  # since 2026\n".write(toFile: file, atomically: true, encoding: .utf8)
        let port = try TCPPorts.free()
        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--identity", friends.keyPaths[0], "--friends", file])
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(1))
        try a.waitForPeers(1)
        #expect(try a.command("friend/print").data.contains { $0.hasPrefix("Friend \(friends.ids[1]) LINKED") })
        try b.stop()
        try a.stop()

        try "\(friends.ids[1])\nnot-an-id\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            _ = try SwitchProcess(arguments: ["--identity", friends.keyPaths[0], "--friends", file])
        } throws: { error in
            "\(error)".contains("friends:2: 'not-an-id' is not an id")
        }
    }

    private func mode(of path: String) throws -> UInt32 {
        var status = stat()
        guard stat(path, &status) == 0 else { throw TestFailure("stat \(path)") }
        return status.st_mode & 0o777
    }
}
