import F2FCore
import F2FSecure
import Logging
import Testing

@testable import F2FSwitchNode

/// `friend/join` and the joiner's side of an invitation on virtual time (the dialler's
/// connector refuses, so no link ever comes up).
extension NodeConsoleCommandsTests {
    private func desk() -> InvitationDesk {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let desk = InvitationDesk(ledgerPath: "/nonexistent/invitations", friendsPath: "/nonexistent/friends", wallClock: { 0 }, logger: logger)
        friendLinks.invitations = desk
        return desk
    }

    @Test func joinDialsTheInviterPinnedAndGivesUpWhenNoLinkComesUp() {
        let desk = desk()
        let inviter = IdentityKey().id
        let link = Invitation.make(inviter: inviter, addresses: ["192.0.2.7:7000"]).link
        let answer = reply("friend/join \(link)")
        #expect(answer.contains("joining \(inviter.checkedDescription) at 192.0.2.7:7000"), "\(answer)")
        #expect(dials.addresses == ["192.0.2.7:7000"])
        #expect(reply("peer/print").contains("Dial 0001 \(inviter)@192.0.2.7:7000"))
        #expect(friendLinks.friends.contains(inviter), "for the handshake's own check of the inviter")
        #expect(desk.proof(for: inviter) != nil)
        #expect(reply("friend/join \(link)").contains("1017 File exists"), "one join per inviter at a time")

        loop.advance(by: InvitationDesk.joinTimeout + .seconds(1))
        desk.tick(now: loop.now, node: node, friends: friendLinks.friends, dialer: dialer)
        #expect(!reply("peer/print").contains("Dial"), "the dial is given up")
        #expect(!friendLinks.friends.contains(inviter))
        #expect(desk.proof(for: inviter) == nil, "later dials carry no proof")
    }

    @Test func joinRefusesMistypedAndOwnLinks() {
        _ = desk()
        var link = Array(Invitation.make(inviter: IdentityKey().id, addresses: ["192.0.2.7:7000"]).link)
        let index = Invitation.linkPrefix.count + 3
        link[index] = link[index] == "A" ? "B" : "A"
        #expect(reply("friend/join \(String(link))").contains("1022 Invalid argument"))
        #expect(reply("friend/join \(Invitation.make(inviter: me.id, addresses: ["192.0.2.7:7000"]).link)").contains("1017 File exists"))
        #expect(dials.addresses.isEmpty)
    }

    @Test func theCheckedFormIsAcceptedWhereAnIDIsTyped() {
        let friend = IdentityKey().id
        #expect(reply("friend/add \(friend.checkedDescription)").hasPrefix("1000"))
        #expect(friendLinks.friends.contains(friend))
        #expect(reply("friend/del \(friend.checkedDescription.lowercased())").hasPrefix("1000"))
        var typo = Array(friend.checkedDescription)
        typo[9] = typo[9] == "A" ? "B" : "A"
        #expect(reply("friend/add \(String(typo))").hasPrefix("1022"))
    }
}
