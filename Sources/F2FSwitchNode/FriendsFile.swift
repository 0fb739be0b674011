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

    /// Adds `id` with a `# note` unless the file lists it already; creates the file (0600)
    /// when missing. Replaced whole, never appended in place: a reader sees the old list or
    /// the new one.
    static func add(_ id: PeerID, note: String, to path: String) throws(IdentityStore.Failure) {
        var text = "# f2f-switch friends: one id per line, # comments\n"
        if FileSystem.exists(path) {
            guard !(try load(path)).contains(id) else { return }
            do {
                text = try FileSystem.readTrustedText(path)
            } catch {
                throw IdentityStore.Failure(description: "friends file: \(error)")
            }
            if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
        }
        text += "\(id)  # \(note)\n"
        do {
            try FileSystem.replaceFile(path, contents: text, mode: 0o600)
        } catch {
            throw IdentityStore.Failure(description: "cannot write friends file: \(error)")
        }
    }
}
