import CF2FSystem
import Glibc

/// Who is at the other end of a connected unix socket, as the kernel recorded it when the
/// client connected (`SO_PEERCRED`): a client cannot claim someone else's uid.
public struct PeerCredentials: Equatable, Sendable {
    public var processID: Int32
    public var userID: UInt32
    public var groupID: UInt32

    public init(processID: Int32, userID: UInt32, groupID: UInt32) {
        self.processID = processID
        self.userID = userID
        self.groupID = groupID
    }

    public var isRoot: Bool { userID == 0 }
}

/// Why a VDE client's own socket was not connected to.
public enum ClientSocketRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path names a symlink, a file, a directory: anything but a socket.
    case notASocket(path: String)
    /// The socket belongs to another user than the client that named it.
    case ownedByAnotherUser(path: String, owner: UInt32, client: UInt32)
    case system(SystemError)

    public var description: String {
        switch self {
        case .notASocket(let path): "client socket \(path) is not a socket (symlinks are not followed)"
        case .ownedByAnotherUser(let path, let owner, let client): "client socket \(path) belongs to uid \(owner), not to the client's uid \(client)"
        case .system(let error): "client socket: \(error)"
        }
    }
}

extension UnixSocket {
    public static func peerCredentials(_ descriptor: Int32) throws(SystemError) -> PeerCredentials {
        var processID: Int32 = 0
        var userID: UInt32 = 0
        var groupID: UInt32 = 0
        try checkedSyscall("getsockopt(SO_PEERCRED)") { cf2f_peer_credentials(descriptor, &processID, &userID, &groupID) }
        return PeerCredentials(processID: processID, userID: userID, groupID: groupID)
    }

    /// Connects `raw` to the socket file at `path` if it belongs to `client` (root clients may
    /// name any socket), and returns the socket's owner.
    ///
    /// The file is opened once without following a symlink (`O_PATH | O_NOFOLLOW`); its
    /// owner is read from that handle and the connect goes through the same handle
    /// (`/proc/self/fd/N`), so nothing can be swapped in between the check and the connect.
    /// A switch running as root would otherwise deliver frames to any socket a user names.
    public static func connect(_ raw: Int32, toSocketAt path: String, ownedBy client: PeerCredentials) throws(ClientSocketRefusal) -> UInt32 {
        let opened = cf2f_open_path_nofollow(path)
        guard opened >= 0 else { throw .system(SystemError(errno: errno, operation: "open \(path)")) }
        let handle = Descriptor(taking: opened)
        var status = stat()
        guard fstat(handle.rawValue, &status) == 0 else { throw .system(SystemError(errno: errno, operation: "stat \(path)")) }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        guard client.isRoot || status.st_uid == client.userID else {
            throw .ownedByAnotherUser(path: path, owner: status.st_uid, client: client.userID)
        }
        guard let address = UnixSocketAddress(path: "/proc/self/fd/\(handle.rawValue)") else {
            preconditionFailure("a /proc/self/fd path always fits in sun_path")
        }
        do {
            try connect(raw, to: address)
        } catch {
            throw .system(SystemError(errno: error.errno, operation: "connect(\(path))"))
        }
        return status.st_uid
    }
}
