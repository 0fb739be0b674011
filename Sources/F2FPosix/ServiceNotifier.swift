import CF2FSystem
import Glibc

/// systemd's readiness protocol without libsystemd (sd_notify(3)): one unix datagram of
/// `KEY=VALUE` lines to the socket named by `NOTIFY_SOCKET`, a path or, after `@`, an abstract
/// name. Outside a `Type=notify` service there is no such variable and nothing is sent.
public struct ServiceNotifier: Sendable {
    public static let ready = "READY=1"
    public static let reloading = "RELOADING=1"
    public static let stopping = "STOPPING=1"

    /// `sun_path` bytes and the address length to pass: an abstract name is exactly as long
    /// as given (a padded one would be another name).
    let pathBytes: [UInt8]

    /// Nil when `value` is not a usable address (empty, relative, too long).
    public init?(socket value: String) {
        var bytes = Array(value.utf8)
        if bytes.first == UInt8(ascii: "@") {
            bytes[0] = 0
        } else if bytes.first != UInt8(ascii: "/") {
            return nil
        }
        guard bytes.count > 1, bytes.count < UnixSocketAddress.pathCapacity, !bytes.dropFirst().contains(0) else { return nil }
        pathBytes = bytes
    }

    /// The notifier of this process's service manager, if it has one.
    public static func fromEnvironment() -> ServiceNotifier? {
        ProcessEnvironment.variable("NOTIFY_SOCKET").flatMap(ServiceNotifier.init(socket:))
    }

    /// The datagram for `states` (`READY=1`, `STATUS=…`), one per line.
    public static func message(_ states: [String]) -> [UInt8] {
        Array(states.joined(separator: "\n").utf8)
    }

    /// Sends `states` in one datagram. The manager not listening is not our failure: the
    /// error is returned for a log line, never thrown.
    @discardableResult
    public func notify(_ states: [String]) -> SystemError? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return SystemError(errno: errno, operation: "socket(AF_UNIX, SOCK_DGRAM)") }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let message = Self.message(states)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                message.withUnsafeBytes { bytes in sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), raw, length) }
            }
        }
        return sent < 0 ? SystemError(errno: errno, operation: "sendto(NOTIFY_SOCKET)") : nil
    }
}
