import F2FPosix
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
        FileSystem.remove(stagingPath)  // left by a switch that crashed right here
        var isPublished = false
        defer { if !isPublished { FileSystem.remove(stagingPath) } }
        let descriptor = socket.rawValue
        do {
            try FileSystem.withCreationMask(0o177) { () throws(SystemError) in
                try UnixSocket.bind(descriptor, to: staging)
            }
            try UnixSocket.listen(descriptor, backlog: backlog)
        } catch {
            throw .system(error)
        }
        if UnixSocket.isListening(at: address) { throw .inUse(path) }
        if FileSystem.exists(path) {
            logger.info("replacing stale socket", metadata: ["path": "\(path)"])
        }
        do {
            try FileSystem.rename(stagingPath, over: path)
        } catch {
            throw .system(error)
        }
        isPublished = true
        try prepare()
        return socket
    }
}
