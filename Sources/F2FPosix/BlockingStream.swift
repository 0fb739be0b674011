import Glibc

/// Blocking I/O on a unix stream socket, for short-lived client commands that have nothing
/// else to do while they wait (`f2f-switch capture`); never used on the switch's loop.
public enum BlockingStream {
    /// Connects to the stream socket at `path`; the socket blocks and closes on exec.
    public static func connect(path: String) throws(SystemError) -> Descriptor {
        guard let address = UnixSocketAddress(path: path) else { throw SystemError(errno: ENAMETOOLONG, operation: "connect \(path)") }
        let raw = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw SystemError(errno: errno, operation: "socket") }
        let socket = Descriptor(taking: raw)
        try UnixSocket.connect(raw, to: address)
        return socket
    }

    public static func writeAll(_ descriptor: Int32, _ text: String) throws(SystemError) {
        guard FileSystem.writeAll(text, to: descriptor) else { throw SystemError(errno: errno, operation: "write") }
    }

    /// Reads up to and without a line feed, one byte at a time (the answer line is short and
    /// what follows it must stay in the socket); nil at the end of the stream or past `limit`.
    public static func readLine(_ descriptor: Int32, limit: Int = 4096) throws(SystemError) -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count <= limit {
            let count = read(descriptor, &byte, 1)
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, operation: "read")
            }
            if count == 0 { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }

    /// Copies everything `descriptor` sends to standard output until either end closes.
    /// Returns normally when the reader of standard output goes away (a pipe's EPIPE).
    public static func copyToStandardOutput(from descriptor: Int32) throws(SystemError) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError(errno: errno, operation: "read")
            }
            if count == 0 { return }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    if errno == EPIPE { return }
                    throw SystemError(errno: errno, operation: "write standard output")
                }
                offset += written
            }
        }
    }
}
