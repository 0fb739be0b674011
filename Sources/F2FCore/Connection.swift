/// The thesis's `comm`: a non-blocking byte connection behind which any provider (TCP,
/// an encrypted layer, an in-memory pair in tests) can sit. The core never knows which.
public protocol Connection: AnyObject {
    /// Who receives this connection's notifications (the peer that owns it).
    var events: (any ConnectionEvents)? { get set }
    /// For logs and the console: an address or a name.
    var remoteDescription: String { get }

    /// Copies up to `buffer.count` available bytes; never waits.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult
    /// Takes as many bytes as it can now; 0 means "try again when writable".
    func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int
    /// Pushes out bytes a provider may have coalesced; called after a burst of writes.
    func flush()
    /// Which readiness notifications the core wants from now on.
    func reconfigure(_ interest: CommInterest)
    /// Stops all I/O and releases the connection; no notifications follow.
    func close()
    /// Who the provider proved is at the other end (nil: nobody, e.g. a plaintext link).
    var authenticatedIdentity: AuthenticatedIdentity? { get }
    /// A second path to the same friend beside the byte stream (datagrams), for the link's
    /// liveness; nil when there is none.
    var datagramLiveness: LinkLiveness.DatagramReport? { get }
}

extension Connection {
    public var authenticatedIdentity: AuthenticatedIdentity? { nil }
    public var datagramLiveness: LinkLiveness.DatagramReport? { nil }
}

/// The notifications a provider sends (thesis 3.3, docs/thesis.md: `f2f_handle_comm_*`).
public protocol ConnectionEvents: AnyObject {
    /// Ready for the I/O the core asked for (`comm_io`).
    func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool)
    /// An outgoing connection completed (`comm_connecting`).
    func connectionEstablished(_ connection: any Connection)
    /// The connection failed or the other side closed it (`comm_disconnected`).
    func connectionClosed(_ connection: any Connection, error: ConnectionError?)
}

/// Receives connections a provider accepted (`comm_incoming`).
public protocol ConnectionAcceptor: AnyObject {
    func acceptIncoming(_ connection: any Connection)
}

public struct CommInterest: OptionSet, Sendable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let readable = CommInterest(rawValue: 1)
    public static let writable = CommInterest(rawValue: 2)
}

public enum CommReadResult: Equatable, Sendable {
    case bytes(Int)
    case wouldBlock
    case endOfStream
}
