import Glibc

/// What `stat` says about a file, reduced to what the safety checks need.
public struct FileStatus: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case directory, socket, regular, symbolicLink, other
    }

    public var kind: Kind
    public var owner: UInt32
    public var group: UInt32
    /// Permission bits including setuid, setgid and sticky (`st_mode & 07777`).
    public var permissions: UInt32
    public var linkCount: Int

    public init(kind: Kind, owner: UInt32, group: UInt32, permissions: UInt32, linkCount: Int = 1) {
        self.kind = kind
        self.owner = owner
        self.group = group
        self.permissions = permissions
        self.linkCount = linkCount
    }

    init(_ status: stat) {
        kind = switch status.st_mode & S_IFMT {
        case S_IFDIR: .directory
        case S_IFSOCK: .socket
        case S_IFREG: .regular
        case S_IFLNK: .symbolicLink
        default: .other
        }
        owner = status.st_uid
        group = status.st_gid
        permissions = status.st_mode & 0o7777
        linkCount = Int(status.st_nlink)
    }

    /// Group or others may create, remove or rename entries (a directory) or change the
    /// contents (a file).
    public var isWritableByOthers: Bool { permissions & 0o022 != 0 }
    public var isSticky: Bool { permissions & 0o1000 != 0 }

    /// The status of `path` itself: a symbolic link is reported as one, not followed.
    public static func of(_ path: String) -> FileStatus? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return FileStatus(status)
    }

    /// The status of what `path` leads to, following symbolic links (a parent directory such
    /// as `$XDG_RUNTIME_DIR`, judged by the directory it really is).
    public static func following(_ path: String) -> FileStatus? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileStatus(status)
    }

    /// The status of the file an open descriptor refers to.
    public static func of(descriptor: Int32) throws(SystemError) -> FileStatus {
        var status = stat()
        try checkedSyscall("fstat") { fstat(descriptor, &status) }
        return FileStatus(status)
    }
}
