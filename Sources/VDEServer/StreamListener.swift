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
        let socket: Descriptor
        do {
            socket = try UnixSocket.makeStream()
        } catch {
            throw .system(error)
        }
        // Listen before the file gets its final mode and owner, so a client that sees the file
        // can connect; until `prepare` widens it, the owner-only mode keeps everyone else out.
        let previousMask = umask(0o177)
        defer { umask(previousMask) }
        try bindReplacingStale(socket.rawValue, to: address, logger: logger)
        do {
            try UnixSocket.listen(socket.rawValue, backlog: backlog)
        } catch {
            throw .system(error)
        }
        try prepare()
        return socket
    }

    private static func bindReplacingStale(_ socket: Int32, to address: UnixSocketAddress, logger: Logger) throws(VDEServerError) {
        do {
            try UnixSocket.bind(socket, to: address)
            return
        } catch {
            guard error.errno == EADDRINUSE else { throw .system(error) }
        }
        let path = address.description
        if UnixSocket.isListening(at: address) {
            throw .inUse(path)
        }
        logger.info("removing stale socket", metadata: ["path": "\(path)"])
        unlink(path)
        do {
            try UnixSocket.bind(socket, to: address)
        } catch {
            throw .system(error)
        }
    }
}
