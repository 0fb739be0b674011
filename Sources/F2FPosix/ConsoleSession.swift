import F2FBase
import CF2FSystem
import Glibc

/// A blocking client of a running switch's management console, as vdeterm speaks to it:
/// wait for the prompt, send a line, read up to the next prompt. For one-shot commands
/// (`f2f-switch join`), never inside the loop.
public final class ConsoleSession {
    static let prompt = Array("\nvde$ ".utf8)
    private let descriptor: Int32

    public init(path: String, timeout: Duration = .seconds(5)) throws(SystemError) {
        guard let address = UnixSocketAddress(path: path) else { throw SystemError(errno: ENAMETOOLONG, operation: "connect \(path)") }
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError(errno: errno, operation: "socket(AF_UNIX)") }
        // A throw from here on runs deinit, which closes the socket.
        try UnixSocket.connect(descriptor, to: address)
        _ = try readReply(timeout: timeout)
    }

    deinit { close(descriptor) }

    /// The reply to `line`: its lines up to the prompt (data lines, then the `1NNN` status).
    public func send(_ line: String, timeout: Duration = .seconds(5)) throws(SystemError) -> [String] {
        let bytes = Array((line + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw SystemError(errno: errno, operation: "send to console") }
            sent += count
        }
        return try readReply(timeout: timeout).split(separator: "\n").map(String.init)
    }

    private func readReply(timeout: Duration) throws(SystemError) -> String {
        var received: [UInt8] = []
        let deadline = MonotonicClock.now() + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.ends(with: Self.prompt) {
            let left = deadline - MonotonicClock.now()
            guard left > .zero else { throw SystemError(errno: ETIMEDOUT, operation: "read console reply") }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            guard poll(&poller, 1, milliseconds) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { throw SystemError(errno: count == 0 ? ECONNRESET : errno, operation: "read console reply") }
            received += buffer[..<count]
        }
        return String(decoding: received.dropLast(Self.prompt.count), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
