/// A console command's failure, reported as vde_switch does: `1NNN <strerror(NNN)>`.
public enum ConsoleError: Error, Equatable, Sendable {
    /// ENXIO: no such port / not active.
    case noSuchDeviceOrAddress
    /// ENODEV: no such entry.
    case noSuchDevice
    /// EINVAL: the argument does not parse or is out of range.
    case invalidArgument
    /// EEXIST
    case exists
    /// EADDRINUSE
    case inUse
    /// ENOSYS: unknown command.
    case notImplemented
    /// ENOENT: a file's directory does not exist.
    case noSuchFile
    /// EACCES: a file may not be created there (or a link stands in its place).
    case permissionDenied

    public var code: Int {
        switch self {
        case .noSuchDeviceOrAddress: 6
        case .noSuchDevice: 19
        case .invalidArgument: 22
        case .exists: 17
        case .inUse: 98
        case .notImplemented: 38
        case .noSuchFile: 2
        case .permissionDenied: 13
        }
    }

    /// glibc's strerror text, which vdeterm prints.
    public var message: String {
        switch self {
        case .noSuchDeviceOrAddress: "No such device or address"
        case .noSuchDevice: "No such device"
        case .invalidArgument: "Invalid argument"
        case .exists: "File exists"
        case .inUse: "Address already in use"
        case .notImplemented: "Function not implemented"
        case .noSuchFile: "No such file or directory"
        case .permissionDenied: "Permission denied"
        }
    }
}
