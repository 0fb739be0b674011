import F2FPosix
import Logging

/// Listening unix stream sockets (`ctl`, the console) with vde_switch's stale-socket rule:
/// a socket file nobody answers on is replaced, one that answers belongs to a live switch.
public enum StreamListener {
    /// Listens on `directory/name` with `mode` (and `group`), all through the directory's
    /// descriptor: whatever already sits under `name` — a stale socket, a planted symbolic
    /// link — is replaced, never followed or connected through.
    public static func make(
        in directory: borrowing DirectoryHandle, name: String, mode: UInt32, group: UInt32?, backlog: Int32, logger: Logger
    ) throws(ServerSocketError) -> Descriptor {
        let path = directory.path + "/" + name
        // Clients reach the socket by its full path, so that must fit in sun_path.
        guard UnixSocketAddress(path: path + "~") != nil else { throw .pathTooLong(path + "~") }
        // Bound and listening under a staging name first, then renamed into place: a client
        // that finds the file always finds a listener behind it (between bind and listen it
        // would get ECONNREFUSED: QEMU and vde_plug give up on that). The socket is born with
        // its final mode (creation mask), and gets its group before it listens.
        let stagingName = name + "~"
        let socket: Descriptor
        do {
            socket = try UnixSocket.makeStream()
        } catch {
            throw .system(error)
        }
        directory.remove(stagingName)  // left by a switch that crashed right here
        let descriptor = socket.rawValue
        do {
            try directory.bind(descriptor, name: stagingName, mode: mode)
            if let group { try directory.changeOwnerOfSocket(named: stagingName, owner: nil, group: group) }
            try UnixSocket.listen(descriptor, backlog: backlog)
        } catch {
            directory.remove(stagingName)
            throw .system(error)
        }
        switch directory.status(of: name)?.kind {
        case nil:
            break
        case .socket:
            if isListening(in: directory, name: name) {
                directory.remove(stagingName)
                throw .inUse(path)
            }
            logger.info("replacing stale socket", metadata: ["path": "\(path)"])
        case .symbolicLink, .regular, .directory, .other:
            logger.warning("replacing what is not a socket (not followed)", metadata: ["path": "\(path)"])
        }
        do {
            try directory.rename(stagingName, over: name)
        } catch {
            directory.remove(stagingName)
            throw .system(error)
        }
        return socket
    }

    /// Is something accepting connections on the socket `name`? (Stale socket detection.)
    private static func isListening(in directory: borrowing DirectoryHandle, name: String) -> Bool {
        guard let probe = try? UnixSocket.makeStream() else { return false }
        do {
            try directory.connect(probe.rawValue, toSocketNamed: name)
            return true
        } catch {
            // EAGAIN means a live listener with a full backlog.
            return error.errno == Errno.wouldBlock
        }
    }
}
