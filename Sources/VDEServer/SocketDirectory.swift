import F2FPosix
import Logging
import SwitchRuntime

/// The switch's directory and its `ctl` listener (docs/vde-protocol.md 1.1): created with the
/// configured modes, a stale `ctl` reused, a live one refused; everything we created is
/// removed at shutdown.
///
/// Root runs this too, so the directory is trusted only when nobody else can have prepared
/// it: an existing one must be ours and writable by nobody the configured mode leaves out.
/// It is opened once and every socket is created, handed over and removed by name through
/// that descriptor, never through a symbolic link.
public final class SocketDirectory {
    public let path: String
    public let permissions: SocketPermissions
    public var controlPath: String { path + "/ctl" }
    private static let controlName = "ctl"
    private var createdDirectory: Bool
    private var handle: DirectoryHandle?
    private var listener: Descriptor?
    /// The listening `ctl` socket while open.
    public private(set) var listenerDescriptor: Int32?
    private var nextEndpointSerial = 1

    /// `isFresh`: the caller has just made `path` itself (a private temporary directory).
    public init(path: String, permissions: SocketPermissions, isFresh: Bool = false) {
        self.path = path
        self.permissions = permissions
        self.createdDirectory = isFresh
    }

    /// Makes a new private directory with a random name (`prefix` + six characters).
    public static func makePrivateTemporary(prefix: String, permissions: SocketPermissions) throws(ServerSocketError) -> SocketDirectory {
        do {
            return SocketDirectory(path: try DirectoryHandle.createPrivateTemporary(prefix: prefix), permissions: permissions, isFresh: true)
        } catch {
            throw .system(error)
        }
    }

    /// Creates the directory (if needed), checks it, and binds and listens on `ctl`.
    public func open(logger: Logger) throws(ServerSocketError) {
        guard UnixSocketAddress(path: controlPath) != nil else { throw .pathTooLong(controlPath) }
        let directory = try openChecked()
        do {
            try directory.setMode(permissions.directoryMode)
            if let group = permissions.groupID { try directory.setGroup(group) }
        } catch {
            throw .system(error)
        }
        let socket = try StreamListener.make(
            in: directory, name: Self.controlName, mode: permissions.socketMode, group: permissions.groupID,
            backlog: 128, logger: logger)
        listenerDescriptor = socket.rawValue
        listener = consume socket
        handle = consume directory
    }

    /// Creates the directory owner-only (its final mode is set once it is open and checked),
    /// or opens the existing one, and refuses it unless it is safe to use.
    private func openChecked() throws(ServerSocketError) -> DirectoryHandle {
        // Above it, nobody else may be able to move it away and put theirs in its place (clients
        // find the switch by path).
        let parentPath = FileSystem.split(path).directory
        let realParent: String?
        do {
            realParent = try FileSystem.trustedDirectoryPath(parentPath)
        } catch {
            throw .unsafe(error)
        }
        guard realParent != nil else { throw .system(SystemError(errno: Errno.noSuchFile, operation: "open \(parentPath)")) }
        if !createdDirectory {
            do {
                try DirectoryHandle.create(path, mode: 0o700)
                createdDirectory = true
            } catch where error.errno == Errno.fileExists {
                // Checked below like any directory we did not make.
            } catch {
                throw .system(error)
            }
        }
        let directory: DirectoryHandle
        do {
            directory = try DirectoryHandle.open(path)
        } catch {
            // O_NOFOLLOW | O_DIRECTORY: a link or a file under the name.
            if let status = FileStatus.of(path), status.kind != .directory {
                try Self.check(status, path: path, permissions: permissions)
            }
            throw .system(error)
        }
        let status: FileStatus
        do {
            status = try directory.status()
        } catch {
            throw .system(error)
        }
        try Self.check(status, path: path, permissions: permissions)
        return directory
    }

    private static func check(_ status: FileStatus, path: String, permissions: SocketPermissions) throws(ServerSocketError) {
        do {
            try UnsafeFile.checkSocketDirectory(
                status, path: path, owner: ProcessEnvironment.effectiveUserID, allowedMode: permissions.directoryMode)
        } catch {
            throw .unsafe(error)
        }
    }

    /// A fresh, unique data-socket name: `NNN.S` like vde_switch's `NNN.F` (never a bare number,
    /// which vdeplug4 would take for a port group).
    public func makeDataSocketName(port: Int) -> String {
        defer { nextEndpointSerial += 1 }
        let number = String(port)
        return String(repeating: "0", count: max(0, 3 - number.count)) + number + "." + String(nextEndpointSerial)
    }

    /// Binds a client's data socket as `name`, born with its final mode; as root it is handed
    /// to the client's user with the owner bits of the mode only (docs/vde-protocol.md 1.8).
    func bindDataSocket(_ socket: Int32, name: String, clientUserID: UInt32?) throws(SystemError) {
        guard listenerDescriptor != nil else { throw SystemError(errno: Errno.badDescriptor, operation: "bind \(path)/\(name): directory closed") }
        let mode = clientUserID != nil ? permissions.socketMode & 0o700 : permissions.socketMode
        handle?.remove(name)
        try handle?.bind(socket, name: name, mode: mode)
        if clientUserID != nil || permissions.groupID != nil {
            try handle?.changeOwnerOfSocket(named: name, owner: clientUserID, group: permissions.groupID)
        }
    }

    /// Listens on another socket of the open directory (the owner-only `capture` socket), made
    /// through the directory's handle as `ctl` is: a planted link is replaced, never followed.
    public func makeListener(name: String, mode: UInt32, backlog: Int32, logger: Logger) throws(ServerSocketError) -> Descriptor {
        guard let socket = try handle?.listen(name: name, mode: mode, backlog: backlog, logger: logger) else {
            throw .system(SystemError(errno: Errno.badDescriptor, operation: "listen \(path)/\(name): directory closed"))
        }
        return socket
    }

    /// Removes entry `name` (a data socket, the capture socket) if the directory is still open.
    public func removeEntry(_ name: String) {
        handle?.remove(name)
    }

    /// Removes `ctl` and, if we created it, the directory (only if it is empty).
    public func close() {
        listener = nil
        listenerDescriptor = nil
        handle?.remove(Self.controlName)
        handle = nil
        if createdDirectory {
            DirectoryHandle.removeEmpty(path)
            createdDirectory = false
        }
    }
}

extension DirectoryHandle {
    /// `StreamListener.make` in this directory (reachable through an optional handle).
    fileprivate func listen(name: String, mode: UInt32, backlog: Int32, logger: Logger) throws(ServerSocketError) -> Descriptor {
        try StreamListener.make(in: self, name: name, mode: mode, group: nil, backlog: backlog, logger: logger)
    }
}
