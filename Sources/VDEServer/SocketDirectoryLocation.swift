import F2FPosix

/// Where the switch puts its sockets when `-s` is not given. Never a name in a shared
/// directory that someone else could create first (`/tmp/f2f-switch-$UID` was one): a
/// runtime directory that only the user can write to, or else a fresh directory with a random
/// name.
public enum SocketDirectoryLocation: Equatable, Sendable {
    /// A fixed path inside a directory only this user can write to.
    case path(String)
    /// A new private directory, `prefix` plus random characters (`mkdtemp`).
    case privateTemporary(prefix: String)

    public static let subdirectoryName = "f2f-switch"
    public static let temporaryPrefix = "/tmp/f2f-switch-"

    /// `$XDG_RUNTIME_DIR/f2f-switch`, else `/run/user/UID/f2f-switch`, else for root
    /// `/run/f2f-switch`; each only when the parent is a directory owned by the user and not
    /// writable by group or others. Failing all of these, a private temporary directory.
    /// `statusOf` follows links (the parent is judged by the directory it is).
    public static func choose(
        runtimeDirectory: String?, effectiveUserID: UInt32, statusOf: (String) -> FileStatus?
    ) -> SocketDirectoryLocation {
        var parents: [String] = []
        if let runtimeDirectory { parents.append(runtimeDirectory) }
        parents.append("/run/user/\(effectiveUserID)")
        if effectiveUserID == 0 { parents.append("/run") }
        for parent in parents {
            guard let status = statusOf(parent), status.kind == .directory, status.owner == effectiveUserID,
                !status.isWritableByOthers
            else { continue }
            return .path((parent.hasSuffix("/") ? parent : parent + "/") + subdirectoryName)
        }
        return .privateTemporary(prefix: temporaryPrefix)
    }
}
