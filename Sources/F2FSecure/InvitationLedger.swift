/// The invitations a node has given out and not yet seen used: each secret with its expiry
/// (wall-clock seconds since the epoch, since an invitation outlives a restart). Pure: the
/// node keeps it in a private file in its home, re-read whenever a handshake presents a proof.
public struct InvitationLedger: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var secret: [UInt8]
        public var expires: Int64

        public init(secret: [UInt8], expires: Int64) {
            self.secret = secret
            self.expires = expires
        }
    }

    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        /// No outstanding invitation has this secret: wrong, forged, or already used.
        case unknown
        case expired

        public var description: String {
            switch self {
            case .unknown: "no outstanding invitation matches (a wrong secret, or one already used)"
            case .expired: "the invitation has expired"
            }
        }
    }

    /// Invitations kept at most: more than anyone hands out by hand, and a bound on the MACs
    /// one proof may cost.
    public static let capacity = 64
    private static let keyword = "invitation"

    public private(set) var entries: [Entry]

    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    /// One `invitation SECRET EXPIRES` line each; other lines (comments) are skipped, and a
    /// line that does not parse is dropped rather than stopping the switch.
    public init(parsing text: String) {
        entries = []
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard words.count == 3, words[0] == Self.keyword, let secret = Base32.decode(String(words[1])),
                secret.count == Invitation.secretCount, let expires = Int64(words[2])
            else { continue }
            entries.append(Entry(secret: secret, expires: expires))
        }
    }

    public var encoded: String {
        var text = "# f2f-switch invitations not used yet: secret and expiry (seconds since 1970). Keep private.\n"
        for entry in entries { text += "\(Self.keyword) \(Base32.encode(entry.secret)) \(entry.expires)\n" }
        return text
    }

    /// Adds an invitation, forgetting expired ones (and the oldest beyond the capacity).
    public mutating func add(_ entry: Entry, now: Int64) {
        entries.removeAll { $0.expires <= now }
        entries.append(entry)
        if entries.count > Self.capacity { entries.removeFirst(entries.count - Self.capacity) }
    }

    /// Checks a proof against every outstanding invitation; a match that has not expired is
    /// used up (removed) and admits, an expired match is refused and forgotten.
    public mutating func redeem(proof: [UInt8], handshakeHash: [UInt8], now: Int64) -> Result<Entry, Refusal> {
        guard let index = entries.firstIndex(where: { Invitation.verify(proof, secret: $0.secret, handshakeHash: handshakeHash) }) else {
            return .failure(.unknown)
        }
        let entry = entries.remove(at: index)
        return entry.expires > now ? .success(entry) : .failure(.expired)
    }
}
