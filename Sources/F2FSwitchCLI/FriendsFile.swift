import F2FSecure
import Glibc

/// `--friends FILE`: one id per line; anything after the id (a name) and `#` comments are
/// ignored. A line that is not an id stops the start-up with its line number.
enum FriendsFile {
    static func load(_ path: String) throws(IdentityStore.Failure) -> [PeerID] {
        guard let file = fopen(path, "r") else {
            throw IdentityStore.Failure(description: "cannot read friends file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var ids: [PeerID] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        var number = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            number += 1
            let text = String(cString: line)
            let content = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let token = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).first else { continue }
            guard let id = PeerID(parsing: String(token)) else {
                throw IdentityStore.Failure(description: "\(path):\(number): '\(token)' is not an id")
            }
            ids.append(id)
        }
        return ids
    }
}
