import F2FPosix
import Glibc
import Logging

/// The switch's directory and its `ctl` listener (VDE-PROTOCOL.md 1.1): created with the
/// configured modes, a stale `ctl` reused, a live one refused; everything we created is
/// removed at shutdown.
public final class SocketDirectory {
    public let path: String
    public let permissions: SocketPermissions
    public var controlPath: String { path + "/ctl" }
    private var createdDirectory = false
    private var listener: Descriptor?
    /// The listening `ctl` socket while open.
    public private(set) var listenerDescriptor: Int32?
    private var nextEndpointSerial = 1

    public init(path: String, permissions: SocketPermissions) {
        self.path = path
        self.permissions = permissions
    }

    /// Creates the directory (if needed) and binds and listens on `ctl`.
    public func open(logger: Logger) throws(VDEServerError) {
        guard let controlAddress = UnixSocketAddress(path: controlPath) else {
            throw .pathTooLong(controlPath)
        }
        if mkdir(path, 0o777) == 0 {
            createdDirectory = true
        } else if errno != EEXIST {
            throw .system(SystemError(errno: errno, operation: "mkdir \(path)"))
        }
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw .notADirectory(path)
        }
        if createdDirectory || status.st_uid == getuid() {
            chmod(path, permissions.directoryMode)
            if let group = permissions.groupID { chown(path, uid_t.max, group) }
        }

        let socket = try StreamListener.make(at: controlAddress, backlog: 128, logger: logger) { () throws(VDEServerError) in
            try applyPermissions(toSocketAt: controlPath, mode: permissions.socketMode)
        }
        listenerDescriptor = socket.rawValue
        listener = consume socket
    }

    /// A fresh, unique data-socket path: `NNN.S` like vde_switch's `NNN.F` (never a bare number,
    /// which vdeplug4 would take for a port group).
    public func makeDataSocketPath(port: Int) -> String {
        defer { nextEndpointSerial += 1 }
        let number = String(port)
        return path + "/" + String(repeating: "0", count: max(0, 3 - number.count)) + number + "." + String(nextEndpointSerial)
    }

    func applyPermissions(toSocketAt socketPath: String, mode: mode_t, ownerID: uid_t? = nil) throws(VDEServerError) {
        if chmod(socketPath, mode) != 0 {
            throw .system(SystemError(errno: errno, operation: "chmod \(socketPath)"))
        }
        if ownerID != nil || permissions.groupID != nil {
            chown(socketPath, ownerID ?? uid_t.max, permissions.groupID ?? gid_t.max)
        }
    }

    /// Removes `ctl` and, if we created it and nobody else answers there, the directory.
    public func close() {
        guard listenerDescriptor != nil else { return }
        listener = nil
        listenerDescriptor = nil
        unlink(controlPath)
        if createdDirectory {
            rmdir(path)
        }
    }
}

public enum VDEServerError: Error, CustomStringConvertible {
    case pathTooLong(String)
    case notADirectory(String)
    case inUse(String)
    case noPort(String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .pathTooLong(let path): "socket path too long (max 107 bytes): \(path)"
        case .notADirectory(let path): "\(path) exists and is not a directory"
        case .inUse(let path): "another switch is serving \(path) (it answers on its control socket)"
        case .noPort(let what): what
        case .system(let error): error.description
        }
    }
}
