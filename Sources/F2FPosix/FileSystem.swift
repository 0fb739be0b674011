import Glibc
import Synchronization

/// Files the executable owns: the pid file, the identity key, the friends list, and the
/// socket files it publishes.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// The first `limit` bytes of a text file.
    public static func readText(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
        let descriptor = try openForReading(path)
        defer { close(descriptor) }
        return try read(descriptor, path: path, limit: limit)
    }

    /// Like `readText`, for a private key: refused unless it belongs to the effective user and
    /// neither its group nor others may access it (ssh's rule). Checked on the open file, so
    /// what is checked is what is read.
    public static func readPrivateText(_ path: String, limit: Int = 1 << 16) throws(any Error) -> String {
        let descriptor = try openForReading(path)
        defer { close(descriptor) }
        try UnsafeFile.checkPrivate(try FileStatus.of(descriptor: descriptor), path: path, owner: geteuid())
        return try read(descriptor, path: path, limit: limit)
    }

    /// Like `readText`, for a file that decides who is trusted (the friends list): refused
    /// unless it belongs to the effective user or root and neither its group nor others may
    /// write it.
    public static func readTrustedText(_ path: String, limit: Int = 1 << 20) throws(any Error) -> String {
        let descriptor = try openForReading(path)
        defer { close(descriptor) }
        try UnsafeFile.checkTrusted(try FileStatus.of(descriptor: descriptor), path: path, owners: [geteuid(), 0])
        return try read(descriptor, path: path, limit: limit)
    }

    /// Creates `path` (never replacing an existing file) readable by its owner only, in
    /// owner-only parent directories it creates as needed, and syncs it to disk.
    public static func createOwnerOnlyFile(_ path: String, contents: String) throws(SystemError) {
        try makeParentDirectories(of: path, mode: 0o700)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemError(errno: errno, operation: "create \(path)") }
        defer { close(descriptor) }
        guard writeAll(contents, to: descriptor), fsync(descriptor) == 0 else {
            let error = SystemError(errno: errno, operation: "write \(path)")
            unlink(path)
            throw error
        }
    }

    /// Replaces `path` with `contents` (the pid file): written to a fresh file next to it,
    /// created with `O_EXCL | O_NOFOLLOW`, then renamed over `path`. A symbolic link planted
    /// at `path` is replaced, never written through, and a reader never sees a partial file.
    public static func replaceFile(_ path: String, contents: String, mode: UInt32 = 0o644) throws(SystemError) {
        let (descriptor, temporaryPath) = try createUniqueSibling(of: path, mode: mode)
        defer { close(descriptor) }
        guard writeAll(contents, to: descriptor), fchmod(descriptor, mode) == 0, Glibc.rename(temporaryPath, path) == 0 else {
            let error = SystemError(errno: errno, operation: "write \(path)")
            unlink(temporaryPath)
            throw error
        }
    }

    /// A new file `DIR/.NAME.XXXXXXXX` beside `path`, created exclusively (never an existing
    /// file or a link's target).
    private static func createUniqueSibling(of path: String, mode: UInt32) throws(SystemError) -> (Int32, String) {
        let (directory, name) = split(path)
        let prefix = (directory == "/" ? "" : directory) + "/." + name + "."
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 {
            let candidate = prefix + String(generator.next() as UInt32, radix: 36)
            let descriptor = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if descriptor >= 0 { return (descriptor, candidate) }
            guard errno == EEXIST else { throw SystemError(errno: errno, operation: "create \(candidate)") }
        }
        throw SystemError(errno: EEXIST, operation: "create \(prefix)…")
    }

    /// `path` split into the directory that holds it and its last component (`.` for a bare name).
    public static func split(_ path: String) -> (directory: String, name: String) {
        var components = path.split(separator: "/", omittingEmptySubsequences: false)
        let name = String(components.popLast() ?? "")
        let directory = components.joined(separator: "/")
        return (components.isEmpty ? "." : directory.isEmpty ? "/" : directory, name)
    }

    /// The real path of directory `path` (`realpath`), after checking that nobody but the
    /// effective user and root can redirect it (`UnsafeFile.checkPath`); nil when it does not
    /// exist. Open the result with `DirectoryHandle.open` (no link at its end).
    public static func trustedDirectoryPath(_ path: String) throws(UnsafeFile) -> String? {
        let links = prefixes(of: path).compactMap { prefix in FileStatus.of(prefix).map { (prefix, $0) } }
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        let real = String(cString: resolved)
        let directories = prefixes(of: real).compactMap { prefix in FileStatus.of(prefix).map { (prefix, $0) } }
        try UnsafeFile.checkPath(links: links, directories: directories, owner: geteuid())
        return real
    }

    /// `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`; `a/b` → `a`, `a/b`.
    static func prefixes(of path: String) -> [String] {
        var result: [String] = path.hasPrefix("/") ? ["/"] : []
        var prefix = path.hasPrefix("/") ? "" : nil as String?
        for component in path.split(separator: "/") where component != "." {
            prefix = prefix.map { $0 + "/" + component } ?? String(component)
            if let prefix { result.append(prefix) }
        }
        return result
    }

    public static func remove(_ path: String) {
        unlink(path)
    }

    /// Moves `source` over `destination` in one step: whoever opens `destination` sees the old
    /// file or the new one, never none.
    public static func rename(_ source: String, over destination: String) throws(SystemError) {
        guard Glibc.rename(source, destination) == 0 else {
            throw SystemError(errno: errno, operation: "rename \(source) to \(destination)")
        }
    }

    /// Runs `body` with the process's file-creation mask set to `mask` (files and sockets it
    /// creates get at most `0o777 & ~mask`), then restores the previous mask.
    public static func withCreationMask<T, E: Error>(_ mask: UInt32, _ body: () throws(E) -> T) throws(E) -> T {
        var outcome: Result<T, E>?
        creationMaskLock.withLock { _ in
            let previous = umask(mask)
            defer { umask(previous) }
            outcome = Result { () throws(E) in try body() }
        }
        // Set exactly once above.
        return try outcome.unsafelyUnwrapped.get()
    }

    /// Runs `body` while no other thread is inside `withCreationMask`. The mask is process-wide:
    /// a process that starts children on one thread while another creates sockets (a test
    /// runner) starts them through this, so no child inherits a mask meant for one socket.
    public static func withUnchangedCreationMask<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        var outcome: Result<T, E>?
        creationMaskLock.withLock { _ in outcome = Result { () throws(E) in try body() } }
        return try outcome.unsafelyUnwrapped.get()
    }

    /// The switch itself has one thread; this only orders other threads of its host process.
    private static let creationMaskLock = Mutex<Void>(())

    /// Writes all of `text` to `descriptor`, retrying short writes; false on an error (errno).
    static func writeAll(_ text: String, to descriptor: Int32) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }
    }

    private static func openForReading(_ path: String) throws(SystemError) -> Int32 {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SystemError(errno: errno, operation: "open \(path)") }
        return descriptor
    }

    /// Reads in page-sized steps, so a small file costs a small buffer whatever the limit.
    private static func read(_ descriptor: Int32, path: String, limit: Int) throws(SystemError) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let got = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, wanted) }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { throw SystemError(errno: errno, operation: "read \(path)") }
            if got == 0 { break }
            bytes += chunk[..<got]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func makeParentDirectories(of path: String, mode: mode_t) throws(SystemError) {
        var prefix = ""
        for (index, component) in path.split(separator: "/", omittingEmptySubsequences: false).dropLast().enumerated() {
            prefix += (index == 0 ? "" : "/") + component
            guard !prefix.isEmpty, !exists(prefix) else { continue }
            guard mkdir(prefix, mode) == 0 || errno == EEXIST else { throw SystemError(errno: errno, operation: "mkdir \(prefix)") }
        }
    }
}
