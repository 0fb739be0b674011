import CF2FSystem
import Glibc

/// An open directory whose entries are created, changed and removed by name relative to the
/// descriptor: its path is resolved once, when it is opened, so a directory renamed or
/// replaced by a symbolic link afterwards cannot redirect what the switch writes, and no
/// call made through it follows a symbolic link found inside it.
public struct DirectoryHandle: ~Copyable {
    public let path: String
    private let descriptor: Descriptor

    private init(path: String, descriptor: consuming Descriptor) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Opens `path`; when it is itself a symbolic link, only with `followingLink` (the parent
    /// of a console socket may be `/var/run`, the socket directory may not be a link).
    public static func open(_ path: String, followingLink: Bool = false) throws(SystemError) -> DirectoryHandle {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingLink ? 0 : O_NOFOLLOW)
        let raw = try checkedSyscall("open \(path)") { Glibc.open(path, flags) }
        return DirectoryHandle(path: path, descriptor: Descriptor(taking: raw))
    }

    /// Creates `path` with `mode` (never an existing one: EEXIST is thrown).
    public static func create(_ path: String, mode: UInt32) throws(SystemError) {
        try checkedSyscall("mkdir \(path)") { mkdir(path, mode) }
    }

    /// A new directory `prefix` + six random characters, mode 0700, made atomically
    /// (`mkdtemp`): nobody can have prepared it.
    public static func createPrivateTemporary(prefix: String) throws(SystemError) -> String {
        var template = Array((prefix + "XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard created else { throw SystemError(errno: errno, operation: "mkdtemp \(prefix)XXXXXX") }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes the directory `path` if it is empty (the switch made it and is done with it).
    public static func removeEmpty(_ path: String) {
        rmdir(path)
    }

    public var rawValue: Int32 { descriptor.rawValue }

    public func status() throws(SystemError) -> FileStatus {
        try FileStatus.of(descriptor: descriptor.rawValue)
    }

    /// The entry `name` itself (a symbolic link is reported as one); nil when there is none.
    public func status(of name: String) -> FileStatus? {
        var status = stat()
        guard fstatat(descriptor.rawValue, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return FileStatus(status)
    }

    public func setMode(_ mode: UInt32) throws(SystemError) {
        let raw = descriptor.rawValue
        try checkedSyscall("chmod \(path)") { fchmod(raw, mode) }
    }

    public func setGroup(_ group: UInt32) throws(SystemError) {
        let raw = descriptor.rawValue
        try checkedSyscall("chgrp \(path)") { fchown(raw, uid_t.max, group) }
    }

    /// Binds `socket` to a new entry `name` with exactly `mode`: the mode comes from the
    /// creation mask at `bind`, so the socket is never reachable with wider permissions and
    /// no `chmod` by name follows. `bind` never replaces an entry (EADDRINUSE).
    public func bind(_ socket: Int32, name: String, mode: UInt32) throws(SystemError) {
        guard let address = UnixSocketAddress(path: entryPath(name)) else {
            throw SystemError(errno: ENAMETOOLONG, operation: "bind \(path)/\(name)")
        }
        try FileSystem.withCreationMask(~mode & 0o777) { () throws(SystemError) in
            try UnixSocket.bind(socket, to: address)
        }
    }

    /// Connects `socket` to the socket `name`, which must be one (never a link to one
    /// elsewhere).
    public func connect(_ socket: Int32, toSocketNamed name: String) throws(SystemError) {
        guard status(of: name)?.kind == .socket else {
            throw SystemError(errno: ECONNREFUSED, operation: "connect \(path)/\(name)")
        }
        guard let address = UnixSocketAddress(path: entryPath(name)) else {
            throw SystemError(errno: ENAMETOOLONG, operation: "connect \(path)/\(name)")
        }
        try UnixSocket.connect(socket, to: address)
    }

    /// Gives the socket `name` to `owner` and/or `group`. The entry is opened without following
    /// links and checked to be a socket we own before the change, which is made through that
    /// handle: a link or file swapped in under the name is refused, never changed.
    public func changeOwnerOfSocket(named name: String, owner: UInt32?, group: UInt32?) throws(SystemError) {
        let operation = "chown \(path)/\(name)"
        let directory = descriptor.rawValue
        let handle = Descriptor(taking: try checkedSyscall(operation) { cf2f_open_entry_nofollow(directory, name) })
        let status = try FileStatus.of(descriptor: handle.rawValue)
        guard status.kind == .socket, status.owner == geteuid(), status.linkCount == 1 else {
            throw SystemError(errno: EPERM, operation: operation + " (not a socket this switch created)")
        }
        let raw = handle.rawValue
        try checkedSyscall(operation) { cf2f_change_owner_of_handle(raw, owner ?? uid_t.max, group ?? gid_t.max) }
    }

    /// Moves entry `source` over `destination` in one step (a link at `destination` is
    /// replaced, not followed).
    public func rename(_ source: String, over destination: String) throws(SystemError) {
        let raw = descriptor.rawValue
        try checkedSyscall("rename \(path)/\(source) to \(destination)") { renameat(raw, source, raw, destination) }
    }

    /// Removes entry `name` (a link itself, never its target); quiet when there is none.
    public func remove(_ name: String) {
        unlinkat(descriptor.rawValue, name, 0)
    }

    /// A path to entry `name` that goes through the open descriptor (`/proc/self/fd/N/name`),
    /// so that `bind` and `connect`, which take only paths, reach this directory even if its
    /// path now leads elsewhere; the full path where /proc is not mounted.
    private func entryPath(_ name: String) -> String {
        Self.hasProcFileDescriptors ? "/proc/self/fd/\(descriptor.rawValue)/\(name)" : path + "/" + name
    }

    private static let hasProcFileDescriptors = access("/proc/self/fd", X_OK) == 0
}
