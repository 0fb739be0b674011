import F2FBase
import F2FCore
import F2FPosix
import F2FSecure
import F2FTransportTCP
import Logging

/// Invitations at both ends. As inviter: the outstanding ones live in a private file in the
/// node's home (`f2f-switch invite` adds to it while the switch runs), re-read each time a
/// handshake presents a proof, so the running switch honours an invitation made a second ago
/// and never one used already. As joiner: the joins in progress, each a dial pinned to the
/// inviter whose handshake carries the proof, given up after a few refused attempts.
/// Whoever joins is written to the friends file at both ends.
public final class InvitationDesk {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    struct Join {
        let invitation: Invitation
        let entryID: Int
        let deadline: Instant
        /// Handshakes that carried the proof: each one the inviter refused is a failed handshake there.
        var proofsSent = 0
        /// Whether the inviter was a friend before: then a failed join leaves it one.
        let wasFriend: Bool
    }

    /// A join that has not linked by then has failed (the inviter is away, or refused).
    static let joinTimeout: Duration = .seconds(20)
    /// Proofs sent before giving up: a refused invitation stays refused.
    static let maximumJoinAttempts = 3

    let ledgerPath: String
    let friendsPath: String
    private let wallClock: () -> Int64
    private let logger: Logger
    private(set) var joins: [PeerID: Join] = [:]

    init(ledgerPath: String, friendsPath: String, wallClock: @escaping () -> Int64, logger: Logger) {
        self.ledgerPath = ledgerPath
        self.friendsPath = friendsPath
        self.wallClock = wallClock
        self.logger = logger
    }

    /// `invitations` next to the identity, like the friends file.
    public static func ledgerPath(identityPath: String) -> String {
        FileSystem.split(identityPath).directory + "/invitations"
    }

    var now: Int64 { wallClock() }

    // MARK: Inviter

    /// Records a new invitation in the ledger at `path` (created 0600) and returns it.
    public static func issue(
        inviter: PeerID, addresses: [String], lifetime: Duration, ledgerPath path: String, now: Int64
    ) throws(Failure) -> Invitation {
        let invitation = Invitation.make(inviter: inviter, addresses: addresses)
        var ledger = try loadLedger(path)
        ledger.add(.init(secret: invitation.secret, expires: now + lifetime.components.seconds), now: now)
        try saveLedger(ledger, to: path)
        return invitation
    }

    /// The outstanding invitations; none when the file does not exist.
    static func loadLedger(_ path: String) throws(Failure) -> InvitationLedger {
        guard FileSystem.exists(path) else { return InvitationLedger() }
        do {
            return InvitationLedger(parsing: try FileSystem.readPrivateText(path))
        } catch {
            throw Failure(description: "invitations: \(error)")
        }
    }

    static func saveLedger(_ ledger: InvitationLedger, to path: String) throws(Failure) {
        do {
            try FileSystem.replaceFile(path, contents: ledger.encoded, mode: 0o600)
        } catch {
            throw Failure(description: "cannot write invitations: \(error)")
        }
    }

    /// Checks a presented proof with `check` (the admission rule) against the ledger as it is
    /// on disk now, and writes back what was used up before anyone is admitted: an invitation
    /// that cannot be marked used is refused.
    func redeem(_ check: (inout InvitationLedger) -> FriendAdmission.Refusal?) -> String? {
        var ledger: InvitationLedger
        do {
            ledger = try Self.loadLedger(ledgerPath)
        } catch {
            logger.error("cannot read invitations", metadata: ["error": "\(error)"])
            return "invitations unreadable"
        }
        let before = ledger
        let refusal = check(&ledger)
        if ledger != before {
            do {
                try Self.saveLedger(ledger, to: ledgerPath)
            } catch {
                logger.error("cannot record a used invitation", metadata: ["error": "\(error)"])
                return refusal?.description ?? "cannot record the invitation as used"
            }
        }
        return refusal?.description
    }

    /// Writes a new friend to the friends file (the switch keeps running if it cannot).
    func persist(friend id: PeerID, note: String) {
        do {
            try FriendsFile.add(id, note: note, to: friendsPath)
            logger.info("friend added to the friends file", metadata: ["id": "\(id)", "file": "\(friendsPath)", "note": "\(note)"])
        } catch {
            logger.error("cannot add a friend to the friends file", metadata: ["id": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: Joiner

    /// Starts a join: the inviter becomes a friend for this run and is dialled at its first
    /// address, pinned; the handshake carries the proof (`proof(for:)`).
    func join(_ invitation: Invitation, ownID: PeerID, friends: FriendList, dialer: PeerDialer, now: Instant) throws(Failure) -> String {
        guard invitation.inviter != ownID else { throw Failure(description: "this is our own invitation") }
        guard joins[invitation.inviter] == nil else { throw Failure(description: "already joining \(invitation.inviter.checkedDescription)") }
        guard let address = invitation.addresses.lazy.compactMap(TCPAddress.init(parsing:)).first(where: { $0.host != nil }) else {
            throw Failure(description: "the invitation names no address to dial")
        }
        let wasFriend = !friends.add(invitation.inviter)
        let entryID = dialer.add(address, pinnedID: invitation.inviter.description)
        joins[invitation.inviter] = Join(
            invitation: invitation, entryID: entryID, deadline: now + Self.joinTimeout, wasFriend: wasFriend)
        logger.info("joining by invitation", metadata: ["inviter": "\(invitation.inviter)", "address": "\(address)"])
        return "joining \(invitation.inviter.checkedDescription) at \(address)"
    }

    /// The payload maker for a dial pinned to an inviter we are joining, nil otherwise.
    func proof(for pinned: PeerID?) -> (([UInt8]) -> [UInt8])? {
        guard let pinned, let secret = joins[pinned]?.invitation.secret else { return nil }
        return { [weak self] handshakeHash in
            self?.joins[pinned]?.proofsSent += 1
            return Invitation.proof(secret: secret, handshakeHash: handshakeHash)
        }
    }

    /// Settles the joins: linked ones become persistent friends (the dial stays for this run),
    /// refused or timed-out ones are given up and their dial removed.
    func tick(now: Instant, node: F2FNode, friends: FriendList, dialer: PeerDialer) {
        for (inviter, join) in joins {
            let linked = node.peers.values.contains { $0.state == .established && $0.secureConnection?.remoteID == inviter }
            if linked {
                joins[inviter] = nil
                persist(friend: inviter, note: "invited us")
                continue
            }
            guard now >= join.deadline || join.proofsSent >= Self.maximumJoinAttempts else { continue }
            joins[inviter] = nil
            dialer.remove(id: join.entryID)
            if !join.wasFriend { friends.remove(inviter) }
            logger.warning(
                "join failed: the inviter refused the invitation or could not be reached",
                metadata: ["inviter": "\(inviter)", "attempts": "\(join.proofsSent)"])
        }
    }
}
