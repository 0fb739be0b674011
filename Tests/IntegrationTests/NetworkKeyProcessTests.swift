@testable import F2FSecure
import Foundation
import Glibc
import Testing

/// `--network-key` on real processes: friends holding the key link; a node or a raw prober
/// without it is refused before the listener says anything, so it never learns the id.
@Suite(.serialized) struct NetworkKeyProcessTests {
    /// `f2f-switch network-key PATH`, the real subcommand.
    private func makeKey(_ path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SwitchProcess.binaryPath)
        process.arguments = ["network-key", path]
        process.standardError = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("f2f-switch network-key exited \(process.terminationStatus)") }
    }

    @Test func friendsWithTheKeyLinkAndNodesWithoutItLearnNothing() throws {
        let port = try TCPPorts.free()
        let friends = try FriendGroup(count: 4)
        let key = friends.directory + "/network.key"
        let otherKey = friends.directory + "/other.key"
        try makeKey(key)
        try makeKey(otherKey)
        var status = stat()
        #expect(stat(key, &status) == 0 && status.st_mode & 0o777 == 0o600)

        let a = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--network-key", key] + friends.member(0))
        let b = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--network-key", key] + friends.member(1))
        try b.waitForPeers(1)
        #expect(try a.establishedPeerCount() == 1)

        // Friends by id, but with another key, or none: their dials fail.
        let wrongKey = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port), "--network-key", otherKey] + friends.member(2))
        let noKey = try SwitchProcess(arguments: ["--peer", friends.pinned(0, port: port)] + friends.member(3))
        try waitUntil(timeout: .seconds(10), "the keyless dials to fail") {
            try wrongKey.command("peer/print").data.contains { $0.contains("last:") }
                && noKey.command("peer/print").data.contains { $0.contains("last:") }
        }
        #expect(try wrongKey.establishedPeerCount() == 0)
        #expect(try noKey.establishedPeerCount() == 0)
        #expect(try a.establishedPeerCount() == 1)

        // A raw prober, plain XX or XXpsk0 under another key: the first message gets no answer,
        // so no message 2 and no static key to decrypt.
        for proberKey in [nil, NetworkKey()] {
            var prober = NoiseHandshake(role: .initiator, localStatic: IdentityKey().privateKey, prologue: SecureConnection.prologue, networkKey: proberKey)
            let fd = try TCPPorts.connect(port: port)
            defer { close(fd) }
            let first = try prober.writeMessage()
            let framed = [UInt8(first.count >> 8), UInt8(first.count & 0xFF)] + first
            #expect(framed.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == framed.count)
            let (answer, closed) = TCPPorts.readUntilClosed(fd, timeout: 3000)
            #expect(closed && answer.isEmpty, "the listener answered a prober with \(answer.count) bytes")
            #expect(prober.remoteStatic == nil)
        }

        let log = try a.stop().log
        #expect(log.contains("Noise handshake failed"), "\(log)")
        #expect(!log.contains(friends.ids[2]) && !log.contains(friends.ids[3]), "the listener never learned the keyless nodes' ids either")
        try b.stop()
        try wrongKey.stop()
        try noKey.stop()
    }

    @Test func aKeyFileOthersMayReadIsRefused() throws {
        let friends = try FriendGroup(count: 1)
        let key = friends.directory + "/network.key"
        try makeKey(key)
        chmod(key, 0o644)
        #expect(throws: TestFailure.self) {
            _ = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(try TCPPorts.free())", "--network-key", key] + friends.member(0))
        }
    }
}
