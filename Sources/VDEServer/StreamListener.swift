import F2FPosix
import Glibc
import Logging

/// Listening unix stream sockets (`ctl`, the console) with vde_switch's stale-socket rule:
/// a socket file nobody answers on is replaced, one that answers belongs to a live switch.
enum StreamListener {
    static func make(
        at address: UnixSocketAddress, backlog: Int32, logger: Logger,
        thenPrepare prepare: () throws(VDEServerError) -> Void
    ) throws(VDEServerError) -> Descriptor {
        let path = address.description
        // Bound and listening under a staging name first, then renamed into place: a client
        // that finds the file always finds a listener behind it (between bind and listen it
        // would get ECONNREFUSED: QEMU and vde_plug give up on that). The owner-only mode keeps
        // everyone else out until `prepare` sets the final mode and owner.
        guard let staging = UnixSocketAddress(path: path + "~"), let stagingPath = staging.path else {
            throw .pathTooLong(path + "~")
        }
        let socket: Descriptor
        do {
            socket = try UnixSocket.makeStream()
        } catch {
            throw .system(error)
        }
        let previousMask = umask(0o177)
        defer { umask(previousMask) }
        unlink(stagingPath)  // left by a switch that crashed right here
        do {
            try UnixSocket.bind(socket.rawValue, to: staging)
            try UnixSocket.listen(socket.rawValue, backlog: backlog)
        } catch {
            unlink(stagingPath)
            throw .system(error)
        }
        if UnixSocket.isListening(at: address) {
            unlink(stagingPath)
            throw .inUse(path)
        }
        if access(path, F_OK) == 0 {
            logger.info("replacing stale socket", metadata: ["path": "\(path)"])
        }
        guard rename(stagingPath, path) == 0 else {
            let error = SystemError(errno: errno, operation: "rename \(stagingPath) to \(path)")
            unlink(stagingPath)
            throw .system(error)
        }
        try prepare()
        return socket
    }
}
