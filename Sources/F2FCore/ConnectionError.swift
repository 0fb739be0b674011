/// Why a connection failed, as the code above it needs to tell the outcomes apart: the dialler
/// and the pending pool count and log each kind differently, and only `system` has an errno.
/// (Modelled on swift-nio-ssh's `NIOSSHError`; the payloads are whole sentences for the log.)
public enum ConnectionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// We refused the authenticated other side: not a friend, or not the id pinned for the address.
    case refused(String)
    /// Turned away before any key was proved, to bound the work strangers can ask for
    /// (handshake rate limits, the pending pool making room).
    case notAdmitted(String)
    /// Ended for taking too long (no handshake message, no complete handshake in time).
    case timedOut(String)
    /// A handshake message or a record failed its AEAD tag: tampering, or a different network key.
    case authenticationFailed(String)
    /// The other side sent something the protocol does not allow (malformed or oversize messages).
    case protocolViolation(String)
    /// The other side hung up where the protocol does not expect it.
    case closedByPeer(String)
    /// A system call failed: `errno` as the kernel returned it, `operation` what we tried.
    case system(errno: Int32, operation: String)
    /// Read or write after `close()`: a bug in the caller, not something the network did.
    case alreadyClosed(operation: String)

    public var description: String {
        switch self {
        case .refused(let reason), .notAdmitted(let reason), .timedOut(let reason), .authenticationFailed(let reason),
            .protocolViolation(let reason), .closedByPeer(let reason):
            reason
        case .system(let errno, let operation): "\(operation) failed (errno \(errno))"
        case .alreadyClosed(let operation): "\(operation) on closed connection"
        }
    }
}
