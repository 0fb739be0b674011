import ArgumentParser
import F2FBase
import F2FPosix
import F2FSecure

/// `f2f-switch join LINK`: asks the running switch (its console, `-M`) to join by the
/// invitation (`friend/join`), then waits until the link to the inviter is up or the switch
/// gave the join up.
struct JoinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Become friends with the node that gave an invitation link, through this node's running switch (-M CONSOLE).")

    @ParentCommand var switchCommand: F2FSwitchCommand

    @Argument(help: "The link `f2f-switch invite` printed on the inviter's side.")
    var link: String

    @Option(name: .customLong("wait"), help: "Seconds to wait for the link to come up.")
    var wait: Double = 30

    func validate() throws {
        guard Invitation(link: link) != nil else {
            throw ValidationError("not an invitation link (or a character of its id was mistyped): '\(link)'")
        }
        guard switchCommand.options.managementPath != nil else {
            throw ValidationError("join needs the running switch's console: -M PATH (its --mgmt socket)")
        }
    }

    func run() throws {
        guard let invitation = Invitation(link: link), let console = switchCommand.options.managementPath else { throw ExitCode.failure }
        do {
            let session = try ConsoleSession(path: console)
            let reply = try session.send("friend/join \(invitation.link)")
            guard let status = reply.last, status.hasPrefix("1000 ") else {
                fail("the switch refused the join: \(reply.last ?? "no reply") (already joining, or our own invitation)")
            }
            // The data block's lines, without its `0000 DATA` header and `.` end.
            print(reply.dropLast().filter { !$0.hasPrefix("0000 ") && $0 != "." }.joined(separator: "\n"))
            let deadline = MonotonicClock.now() + .seconds(wait)
            while MonotonicClock.now() < deadline {
                let peers = try session.send("peer/print")
                // Up means past the hello (a refused joiner's link gets as far as sending its own).
                if Self.isEstablished(invitation.inviter, peers: peers) {
                    print("linked with \(invitation.inviter.checkedDescription), now a friend at both ends")
                    return
                }
                // The switch removes the dial when it gives the join up.
                if !peers.contains(where: { $0.hasPrefix("Dial ") && $0.contains(" \(invitation.inviter)@") }) {
                    fail("the inviter refused the invitation (used, expired or wrong) or could not be reached")
                }
                ProcessEnvironment.sleep(.milliseconds(200))
            }
            fail("no link with the inviter within \(wait) s")
        } catch {
            fail("\(error)")
        }
    }

    /// Whether `peer/print` shows a link with `id` in the ESTABLISHED state (a `Peer` line,
    /// then its ` id …` line).
    static func isEstablished(_ id: PeerID, peers lines: [String]) -> Bool {
        zip(lines, lines.dropFirst()).contains { peer, identity in
            peer.hasPrefix("Peer ") && peer.contains(" ESTABLISHED ") && identity.hasPrefix(" id \(id) ")
        }
    }

    private func fail(_ message: String) -> Never {
        ProcessEnvironment.writeToStandardError("f2f-switch join: \(message)\n")
        Self.exit(withError: ExitCode.failure)
    }
}
