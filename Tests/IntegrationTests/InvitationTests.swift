import Foundation
import Glibc
import Testing

/// Invitations on real processes: `f2f-switch invite` on one node, `f2f-switch join LINK`
/// through the other's console; each switch has its own home (identity, friends, invitations).
@Suite(.serialized) struct InvitationTests {
    /// A switch listening on loopback with its home in its work directory.
    private func inviter() throws -> (SwitchProcess, port: UInt16) {
        let port = try TCPPorts.free()
        return (try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)"]), port)
    }

    private func run(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (status: Int32, output: String, errors: String) {
        let child = try ChildProcess(SwitchProcess.binaryPath, arguments)
        let (status, output) = try child.finish(timeout: timeout)
        return (status, output, child.errorText)
    }

    private func invite(_ sw: SwitchProcess, port: UInt16, extra: [String] = []) throws -> String {
        let result = try run(["invite", "--identity", sw.workDirectory + "/identity", "--listen", "127.0.0.1:\(port)"] + extra)
        try #require(result.status == 0, "\(result.errors)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func join(_ sw: SwitchProcess, link: String) throws -> (status: Int32, output: String, errors: String) {
        try run(["join", link, "-M", sw.managementPath])
    }

    private func id(of sw: SwitchProcess) throws -> String {
        let line = try #require(try sw.command("friend/print").data.first { $0.hasPrefix("Self ") })
        return String(line.dropFirst("Self ".count))
    }

    private func friendsFile(of sw: SwitchProcess) -> String {
        (try? String(contentsOfFile: sw.workDirectory + "/friends", encoding: .utf8)) ?? ""
    }

    private func handshakeFailures(of sw: SwitchProcess) throws -> Int {
        let line = try #require(try sw.command("limits/print").data.first { $0.hasPrefix("strangers-refused ") })
        let words = line.split(separator: " ")
        let index = try #require(words.firstIndex(of: "handshake-failures"))
        return try #require(Int(words[index + 1]))
    }

    @Test func inviteThenJoinLinksTwoStrangersOverEncryptionAndBothFilesListTheOther() throws {
        let (a, port) = try inviter()
        let b = try SwitchProcess()
        let (aID, bID) = (try id(of: a), try id(of: b))
        let link = try invite(a, port: port)
        #expect(link.hasPrefix("f2f://invite/") && link.hasSuffix("/127.0.0.1:\(port)"), "\(link)")

        let ledgerPath = a.workDirectory + "/invitations"
        let ledger = try FileManager.default.attributesOfItem(atPath: ledgerPath)
        #expect((ledger[.posixPermissions] as? Int) == 0o600, "the secret is private")

        let joined = try join(b, link: link)
        #expect(joined.status == 0, "\(joined.errors)")
        #expect(joined.output.contains("linked with"))
        try a.waitForPeers(1)
        try b.waitForPeers(1)
        #expect(try a.command("friend/print").data.contains { $0.hasPrefix("Friend \(bID) LINKED peer ") })
        #expect(try b.command("friend/print").data.contains { $0.hasPrefix("Friend \(aID) LINKED peer ") })
        try waitUntil(timeout: .seconds(5), "both friends files to list the other") {
            friendsFile(of: a).contains(bID) && friendsFile(of: b).contains(aID)
        }
        let ledgerText = try String(contentsOfFile: ledgerPath, encoding: .utf8)
        #expect(!ledgerText.contains("\ninvitation "), "the invitation is used up: \(ledgerText)")

        // Frames cross the new link (encrypted: the link is a Noise link like any friend's).
        let local = try TestClient(a.socketDirectory, mac: "02:00:00:00:00:0a")
        let remote = try TestClient(b.socketDirectory, mac: "02:00:00:00:00:0b")
        try waitUntil(timeout: .seconds(10), "a frame across the link") {
            let frame = local.frame(to: .broadcast, size: 100, tag: 1)
            try local.send(frame)
            return try remote.receive(timeout: .milliseconds(300)) == frame
        }

        // Persistent: a restart of the inviter reads the joiner from its friends file.
        try a.stop()
        let again = try SwitchProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--identity", a.workDirectory + "/identity"])
        try again.waitForPeers(1, timeout: .seconds(20))
        #expect(try again.command("friend/print").data.contains { $0.hasPrefix("Friend \(bID) LINKED") })
        try again.stop()
        try b.stop()
    }

    @Test func aUsedLinkIsRefusedToASecondJoinerAndCountedAsAFailedHandshake() throws {
        let (a, port) = try inviter()
        let b = try SwitchProcess()
        let c = try SwitchProcess()
        let link = try invite(a, port: port)
        #expect(try join(b, link: link).status == 0)
        let before = try handshakeFailures(of: a)

        let second = try join(c, link: link)
        #expect(second.status != 0)
        #expect(second.errors.contains("refused"), "\(second.errors)")
        let cID = try id(of: c)
        #expect(try handshakeFailures(of: a) > before)
        #expect(!(try a.command("friend/print").data.contains { $0.contains(cID) }))
        #expect(!friendsFile(of: a).contains(cID))
        #expect(try a.establishedPeerCount() == 1, "only the first joiner")
        #expect(try c.command("peer/print").data.allSatisfy { !$0.hasPrefix("Dial ") }, "the joiner gave up dialling")
        let log = try a.stop().log
        #expect(log.contains("refused invitation") && log.contains(cID), "\(log)")
        try b.stop()
        try c.stop()
    }

    @Test func anExpiredLinkIsRefused() throws {
        let (a, port) = try inviter()
        let b = try SwitchProcess()
        let link = try invite(a, port: port, extra: ["--expires", "2h"])
        let ledgerPath = a.workDirectory + "/invitations"
        let text = try String(contentsOfFile: ledgerPath, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("invitation ") })
        let words = line.split(separator: " ")
        let expires = try #require(Int64(words[2]))
        let now = Int64(Date().timeIntervalSince1970)
        #expect(abs(expires - (now + 7200)) < 60, "--expires 2h")
        // Two hours later, as far as the inviter can tell: the recorded expiry is in the past.
        try (text.replacingOccurrences(of: String(line), with: "\(words[0]) \(words[1]) \(now - 1)")).write(
            toFile: ledgerPath, atomically: false, encoding: .utf8)

        let joined = try join(b, link: link)
        #expect(joined.status != 0)
        #expect(try handshakeFailures(of: a) > 0)
        #expect(try a.establishedPeerCount() == 0)
        #expect(!friendsFile(of: a).contains(try id(of: b)))
        let log = try a.stop().log
        #expect(log.contains("expired"), "\(log)")
        try b.stop()
    }

    @Test func aWrongSecretIsRefusedAndCounted() throws {
        let (a, port) = try inviter()
        let b = try SwitchProcess()
        let link = try invite(a, port: port)
        var parts = link.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // f2f: / "" / invite / ID / SECRET / addresses
        var secret = Array(parts[4])
        secret[0] = secret[0] == "a" ? "b" : "a"
        parts[4] = String(secret)
        let wrong = parts.joined(separator: "/")

        let joined = try join(b, link: wrong)
        #expect(joined.status != 0)
        #expect(try handshakeFailures(of: a) > 0)
        #expect(try a.establishedPeerCount() == 0)
        #expect(try b.establishedPeerCount() == 0)
        // The right secret still works afterwards: a wrong guess used nothing up.
        let right = try join(b, link: link)
        #expect(right.status == 0, "\(right.errors)")
        try a.stop()
        try b.stop()
    }

    @Test func aMistypedIDInTheLinkIsCaughtBeforeAnythingIsDialled() throws {
        let b = try SwitchProcess()
        let link = "f2f://invite/AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAB/mfrggzdfmztwq2lknnwg23tpoa/127.0.0.1:9"
        let joined = try join(b, link: link)
        #expect(joined.status != 0)
        #expect(joined.errors.contains("not an invitation link"), "\(joined.errors)")
        try b.stop()
    }
}
