/// A file or directory the switch will not use because someone other than its user could have
/// written it (or, for a private key, read it). Each description says how to fix it.
public enum UnsafeFile: Error, Equatable, Sendable, CustomStringConvertible {
    case symbolicLink(path: String)
    /// A link on the way to a directory that someone else made: they chose where it leads.
    case untrustedLink(path: String, owner: UInt32)
    case notADirectory(path: String)
    case notOwned(path: String, owner: UInt32, expected: UInt32)
    case writableByOthers(path: String, permissions: UInt32)
    case readableByOthers(path: String, permissions: UInt32)

    public var description: String {
        switch self {
        case .symbolicLink(let path):
            "\(path) is a symbolic link; give the real path"
        case .untrustedLink(let path, let owner):
            "\(path) is a symbolic link that belongs to uid \(owner), who chose where it leads; give a path through links "
                + "of yours or root's only"
        case .notADirectory(let path):
            "\(path) exists and is not a directory"
        case .notOwned(let path, let owner, let expected):
            "\(path) belongs to uid \(owner), not to this switch's user (uid \(expected)): someone else may have "
                + "prepared it; remove it or use another path"
        case .writableByOthers(let path, let permissions):
            "\(path) is writable by group or others (mode \(Self.octal(permissions))); run: chmod go-w \(path)"
        case .readableByOthers(let path, let permissions):
            "\(path) is accessible by others (mode \(Self.octal(permissions))); run: chmod 600 \(path)"
        }
    }

    /// Who may have written a file the switch reads at start-up (the friends file): its user
    /// or root, and nobody else through group or other write permission.
    public static func checkTrusted(_ status: FileStatus, path: String, owners: [UInt32]) throws(UnsafeFile) {
        guard owners.contains(status.owner) else { throw .notOwned(path: path, owner: status.owner, expected: owners[0]) }
        guard !status.isWritableByOthers else { throw .writableByOthers(path: path, permissions: status.permissions) }
    }

    /// A private key: its user's alone, neither readable nor writable by anyone else (ssh's rule).
    public static func checkPrivate(_ status: FileStatus, path: String, owner: UInt32) throws(UnsafeFile) {
        guard status.owner == owner else { throw .notOwned(path: path, owner: status.owner, expected: owner) }
        guard status.permissions & 0o077 == 0 else { throw .readableByOthers(path: path, permissions: status.permissions & 0o777) }
    }

    /// A directory the switch creates sockets in: not a link, its user's, and writable by
    /// group or others only as far as the configured `allowedMode` says so (`-m 660` makes a
    /// group-writable directory on purpose, and finds it so after a crash).
    public static func checkSocketDirectory(_ status: FileStatus, path: String, owner: UInt32, allowedMode: UInt32) throws(UnsafeFile) {
        switch status.kind {
        case .directory: break
        case .symbolicLink: throw .symbolicLink(path: path)
        case .socket, .regular, .other: throw .notADirectory(path: path)
        }
        guard status.owner == owner else { throw .notOwned(path: path, owner: status.owner, expected: owner) }
        guard status.permissions & 0o022 & ~allowedMode == 0 else {
            throw .writableByOthers(path: path, permissions: status.permissions)
        }
    }

    /// The directory a console socket goes into: its user's or root's, and if others may write
    /// there, sticky (like /tmp), so that nobody can replace what the switch puts there.
    public static func checkParentDirectory(_ status: FileStatus, path: String, owner: UInt32) throws(UnsafeFile) {
        guard status.owner == owner || status.owner == 0 else { throw .notOwned(path: path, owner: status.owner, expected: owner) }
        guard !status.isWritableByOthers || status.isSticky else {
            throw .writableByOthers(path: path, permissions: status.permissions)
        }
    }

    /// A directory path nobody but `owner` and root can redirect: every symbolic link on the
    /// way is theirs (`links`, the statuses of the given path's prefixes), and every directory
    /// of the path it resolves to (`directories`) is theirs and, if others may write it,
    /// sticky — so no entry on the way can be replaced by someone else later (ssh's rule for
    /// the directories above its files).
    public static func checkPath(
        links: [(path: String, status: FileStatus)], directories: [(path: String, status: FileStatus)], owner: UInt32
    ) throws(UnsafeFile) {
        for link in links where link.status.kind == .symbolicLink && link.status.owner != owner && link.status.owner != 0 {
            throw .untrustedLink(path: link.path, owner: link.status.owner)
        }
        for directory in directories {
            try checkParentDirectory(directory.status, path: directory.path, owner: owner)
        }
    }

    private static func octal(_ permissions: UInt32) -> String {
        "0" + String(permissions, radix: 8)
    }
}
