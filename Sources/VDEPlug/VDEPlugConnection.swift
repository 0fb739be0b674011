import CVDEPlug
import F2FPosix
import Glibc

/// A connection opened by libvdeplug (vdeplug4): any VDE URL such as `vde:///run/sw`,
/// `vxvde://239.1.2.3`, `ptp:///tmp/link` or `tap://tap0`.
///
/// Thin: one frame per `send`/`receive`, descriptors exposed for polling. Not thread-safe;
/// one owner at a time.
public final class VDEPlugConnection {
    private var connection: OpaquePointer?
    public let url: String

    /// Opens `url` with `description` shown in the switch's `port/print`. `port` 0 means any.
    public init(url: String, description: String, port: Int32 = 0, mode: mode_t = 0) throws(SystemError) {
        self.url = url
        var arguments = vde_open_args(port: port, group: nil, mode: mode)
        // vde_open is a macro around vde_open_real; the library copies both strings.
        let opened = url.withCString { urlPointer in
            description.withCString { descriptionPointer in
                vde_open_real(
                    UnsafeMutablePointer(mutating: urlPointer), UnsafeMutablePointer(mutating: descriptionPointer),
                    LIBVDEPLUG_INTERFACE_VERSION, &arguments)
            }
        }
        guard let opened else {
            throw SystemError(errno: errno == 0 ? EIO : errno, operation: "vde_open(\(url))")
        }
        connection = opened
    }

    deinit {
        close()
    }

    /// The descriptor that becomes readable when a frame can be received.
    public var dataDescriptor: Int32 {
        guard let connection else { return -1 }
        return vde_datafd(connection)
    }

    /// The control descriptor: silent after the handshake, EOF when the switch goes away
    /// (-1 for plugins without one).
    public var controlDescriptor: Int32 {
        guard let connection else { return -1 }
        return vde_ctlfd(connection)
    }

    /// Makes `receive` and `send` return `.wouldBlock` instead of waiting.
    public func setNonBlocking() {
        let descriptor = dataDescriptor
        guard descriptor >= 0 else { return }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    /// Sends one frame; `.processed` carries the bytes taken.
    @discardableResult
    public func send(_ frame: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        guard let connection else { throw SystemError(errno: EBADF, operation: "vde_send on closed connection") }
        switch try syscall("vde_send(\(url))", { vde_send(connection, frame.baseAddress, frame.count, 0) }) {
        case .processed(let count): return .processed(count)
        case .wouldBlock: return .wouldBlock
        }
    }

    public func send(_ frame: [UInt8]) throws(SystemError) -> IOResult<Int> {
        let result = frame.withUnsafeBytes { bytes in Result { () throws(SystemError) in try send(bytes) } }
        return try result.get()
    }

    /// Receives one frame into `buffer`; `.processed(0)` means the link closed. Some plugins
    /// report a frame they filtered out as length 1.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        guard let connection else { throw SystemError(errno: EBADF, operation: "vde_recv on closed connection") }
        switch try syscall("vde_recv(\(url))", { vde_recv(connection, buffer.baseAddress, buffer.count, 0) }) {
        case .processed(let count): return .processed(count)
        case .wouldBlock: return .wouldBlock
        }
    }

    public func close() {
        guard let connection else { return }
        vde_close(connection)
        self.connection = nil
    }
}
