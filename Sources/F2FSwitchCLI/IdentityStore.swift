import F2FSecure
import Glibc

/// The node's long-term key on disk: created on first use, readable by its owner only (0600,
/// in a 0700 directory), refused when anyone else may read it — as ssh treats its keys.
enum IdentityStore {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private static let keyField = "private-key:"

    /// `$XDG_CONFIG_HOME/f2f-switch/identity`, else `~/.config/f2f-switch/identity`, else next
    /// to the socket directory.
    static func defaultPath(socketDirectory: String) -> String {
        if let config = environment("XDG_CONFIG_HOME") { return config + "/f2f-switch/identity" }
        if let home = environment("HOME") { return home + "/.config/f2f-switch/identity" }
        let parent = socketDirectory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return (parent.isEmpty ? "." : parent) + "/f2f-switch-identity"
    }

    /// The friends file that sits next to the identity, used when it exists.
    static func defaultFriendsPath(identityPath: String) -> String {
        identityPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/friends"
    }

    static func loadOrCreate(at path: String) throws(Failure) -> (key: IdentityKey, created: Bool) {
        if access(path, F_OK) == 0 { return (try load(path), false) }
        let key = IdentityKey()
        try store(key, at: path)
        return (key, true)
    }

    private static func load(_ path: String) throws(Failure) -> IdentityKey {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: "cannot read identity \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Failure(description: "cannot stat identity \(path)") }
        guard status.st_mode & 0o077 == 0 else {
            throw Failure(description: "identity \(path) is accessible by others (mode 0\(String(status.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
        }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &bytes, bytes.count)
        guard count > 0 else { throw Failure(description: "identity \(path) is empty or unreadable") }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(keyField) {
            let value = line.dropFirst(keyField.count).trimmingCharacters(in: " \t\r")
            if let key = IdentityKey(encoded: value) { return key }
        }
        throw Failure(description: "identity \(path) holds no valid '\(keyField)' line")
    }

    private static func store(_ key: IdentityKey, at path: String) throws(Failure) {
        try makeParentDirectories(of: path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "cannot create identity \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let text = """
            # f2f-switch identity: this node's private key. Keep it secret; give friends the id.
            # id: \(key.id)
            \(keyField) \(key.encoded)

            """
        let written = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw Failure(description: "cannot write identity \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func makeParentDirectories(of path: String) throws(Failure) {
        var prefix = ""
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for (index, component) in components.enumerated() {
            prefix += (index == 0 ? "" : "/") + component
            guard !prefix.isEmpty, access(prefix, F_OK) != 0 else { continue }
            guard mkdir(prefix, 0o700) == 0 || errno == EEXIST else {
                throw Failure(description: "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        return String(drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
