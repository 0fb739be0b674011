import Glibc

extension FileSystem {
    /// Creates `path` for writing, owner-only (0600): never an existing file (`O_EXCL`), and
    /// never through a symbolic link planted there (`O_NOFOLLOW`), so a capture file cannot
    /// be made to overwrite something else. The creation mask cannot widen the mode.
    public static func createNewPrivateFile(_ path: String) throws(SystemError) -> Descriptor {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemError(errno: errno, operation: "create \(path)") }
        return Descriptor(taking: descriptor)
    }

    /// Writes what the file, pipe or socket takes now (`write(2)`); partial writes are normal,
    /// and a pipe or socket that is full is `.wouldBlock` when it is non-blocking.
    public static func writeAvailable(_ descriptor: Int32, from buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("write") { Glibc.write(descriptor, buffer.baseAddress, buffer.count) }
    }
}
