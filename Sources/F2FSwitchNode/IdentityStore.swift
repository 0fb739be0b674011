import F2FPosix
import F2FSecure

/// The node's long-term key on disk: created on first use, readable by its owner only (0600,
/// in a 0700 directory), refused when it belongs to another user or anyone else may read or
/// write it — as ssh treats its keys.
public enum IdentityStore {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private static let keyField = "private-key:"

    /// `$XDG_CONFIG_HOME/f2f-switch/identity`, else `~/.config/f2f-switch/identity`; nil
    /// without either: a shared place such as /tmp would let another user plant the key.
    public static func defaultPath() -> String? {
        if let config = ProcessEnvironment.variable("XDG_CONFIG_HOME") { return config + "/f2f-switch/identity" }
        if let home = ProcessEnvironment.variable("HOME") { return home + "/.config/f2f-switch/identity" }
        return nil
    }

    /// The friends file that sits next to the identity, used when it exists.
    public static func defaultFriendsPath(identityPath: String) -> String {
        directory(of: identityPath) + "/friends"
    }

    public static func loadOrCreate(at path: String) throws(Failure) -> (key: IdentityKey, created: Bool) {
        if FileSystem.exists(path) { return (try load(path), false) }
        let key = IdentityKey()
        let text = """
            # f2f-switch identity: this node's private key. Keep it secret; give friends the id.
            # id: \(key.id)
            \(keyField) \(key.encoded)

            """
        do {
            try FileSystem.createOwnerOnlyFile(path, contents: text)
        } catch {
            throw Failure(description: "cannot create identity: \(error)")
        }
        return (key, true)
    }

    private static func load(_ path: String) throws(Failure) -> IdentityKey {
        let text: String
        do {
            text = try FileSystem.readPrivateText(path)
        } catch {
            throw Failure(description: "identity: \(error)")
        }
        for line in text.split(separator: "\n") where line.hasPrefix(keyField) {
            if let value = line.dropFirst(keyField.count).firstWord, let key = IdentityKey(encoded: String(value)) { return key }
        }
        throw Failure(description: "identity \(path) holds no valid '\(keyField)' line")
    }

    private static func directory(of path: String) -> String {
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return parent.isEmpty ? "." : parent
    }
}

extension Substring {
    /// The first run of characters up to a space, tab or carriage return (key and friends
    /// files may come with CRLF line ends).
    var firstWord: Substring? {
        split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first
    }
}
