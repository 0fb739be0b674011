import F2FPosix
import F2FSecure

/// `--friends FILE`: one id per line; anything after the id (a name) and `#` comments are
/// ignored. A line that is not an id stops the start-up with its line number. The file says
/// who may link, so it must be the user's (or root's) and writable by nobody else.
enum FriendsFile {
    static func load(_ path: String) throws(IdentityStore.Failure) -> [PeerID] {
        let text: String
        do {
            text = try FileSystem.readTrustedText(path)
        } catch {
            throw IdentityStore.Failure(description: "friends file: \(error)")
        }
        var ids: [PeerID] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let token = content.firstWord else { continue }
            guard let id = PeerID(parsing: String(token)) else {
                throw IdentityStore.Failure(description: "\(path):\(index + 1): '\(token)' is not an id")
            }
            ids.append(id)
        }
        return ids
    }
}
