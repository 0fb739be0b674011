import F2FCore

/// One end of a `ConnectionPair`: bytes written here become readable at the other end.
public final class PairedConnection: Connection {
    public weak var events: (any ConnectionEvents)?
    public let remoteDescription: String
    weak var other: PairedConnection?

    private var inbound: [UInt8] = []
    private var inboundHead = 0
    private var endOfStreamReported = false
    private var readFailure: ConnectionError?

    /// Bytes one write call may take (nil: unlimited; 0: every write is refused).
    public var writeCapacity: Int?
    /// Unread bytes the other end may hold before writes here are refused (the socket buffers).
    public var bufferLimit = 1 << 22
    /// Rewrites bytes in flight (stream offset of this end's output, byte) to simulate a
    /// corrupting or foreign sender; `written` keeps what the core wrote.
    public var transform: ((Int, UInt8) -> UInt8)?

    /// Who this end's provider says is at the other end (a Noise key, in production).
    public var authenticatedIdentity: AuthenticatedIdentity?

    /// Every byte the core wrote on this end, in order.
    public private(set) var written: [UInt8] = []
    public private(set) var interests: [CommInterest] = []
    public private(set) var flushCount = 0
    public private(set) var closeCount = 0

    init(remoteDescription: String) {
        self.remoteDescription = remoteDescription
    }

    public var interest: CommInterest {
        interests.last ?? []
    }

    public var isClosed: Bool {
        closeCount > 0
    }

    /// Bytes the other end wrote that this end has not read yet.
    public var unreadCount: Int {
        inbound.count - inboundHead
    }

    /// Readiness this end would report now, given its interest.
    var readiness: (readable: Bool, writable: Bool) {
        guard !isClosed, events != nil else { return (false, false) }
        let peerGone = other?.isClosed ?? true
        let readable = unreadCount > 0 || readFailure != nil || (peerGone && !endOfStreamReported)
        let writable = !peerGone && writableCount > 0
        return (interest.contains(.readable) && readable, interest.contains(.writable) && writable)
    }

    private var writableCount: Int {
        guard let other else { return 0 }
        return min(writeCapacity ?? Int.max, max(0, bufferLimit - other.unreadCount))
    }

    // MARK: Notifications

    /// The outbound connection completed (`connectionEstablished`).
    public func establish() {
        events?.connectionEstablished(self)
    }

    /// The provider reports a failure: reads throw `error` after the buffered bytes.
    public func failReads(with error: ConnectionError) {
        readFailure = error
    }

    /// The provider reports the connection gone (`connectionClosed`).
    public func signalClosed(error: ConnectionError? = nil) {
        events?.connectionClosed(self, error: error)
    }

    // MARK: Connection

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        guard !isClosed else { throw ConnectionError.alreadyClosed(operation: "read") }
        if unreadCount == 0 {
            if let readFailure { throw readFailure }
            if other?.isClosed ?? true {
                endOfStreamReported = true
                return .endOfStream
            }
            return .wouldBlock
        }
        let count = min(buffer.count, unreadCount)
        inbound.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + inboundHead, byteCount: count)
        }
        inboundHead += count
        if inboundHead == inbound.count {
            inbound.removeAll(keepingCapacity: true)
            inboundHead = 0
        }
        return .bytes(count)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int {
        guard !isClosed else { throw ConnectionError.alreadyClosed(operation: "write") }
        guard let other, !other.isClosed else {
            // As TCP before the reset comes back: taken, and lost.
            written.append(contentsOf: bytes)
            return bytes.count
        }
        let count = min(bytes.count, writableCount)
        for byte in bytes[..<count] {
            let offset = written.count
            written.append(byte)
            other.inbound.append(transform.map { $0(offset, byte) } ?? byte)
        }
        return count
    }

    public func flush() {
        flushCount += 1
    }

    public func reconfigure(_ interest: CommInterest) {
        interests.append(interest)
    }

    public func close() {
        closeCount += 1
    }
}

/// Two in-memory connections wired to each other, for nodes that handshake and talk without
/// sockets or threads. `pump()` plays the event loop: it sends each end the readiness it asked
/// for until nothing more happens.
///
/// ```swift
/// let pair = ConnectionPair()
/// pair.connect(dialer: alpha, acceptor: beta)   // addOutbound, acceptIncoming, establish, pump
/// producer.enqueue(frame); alphaPeer.pumpOutbound(); pair.pump()
/// ```
public final class ConnectionPair {
    /// The dialing end (`addOutbound`).
    public let a: PairedConnection
    /// The accepting end (`acceptIncoming`).
    public let b: PairedConnection

    public init(aDescription: String = "pair-b", bDescription: String = "pair-a") {
        a = PairedConnection(remoteDescription: aDescription)
        b = PairedConnection(remoteDescription: bDescription)
        a.other = b
        b.other = a
    }

    /// Delivers readiness notifications until both ends are quiescent; returns how many were
    /// sent. Stops after `limit` (a producer that never runs dry); check the result then.
    @discardableResult
    public func pump(limit: Int = 100_000) -> Int {
        var sent = 0
        while sent < limit {
            var progressed = false
            for end in [a, b] {
                let (readable, writable) = end.readiness
                guard readable || writable else { continue }
                end.events?.connectionIsReady(end, readable: readable, writable: writable)
                sent += 1
                progressed = true
            }
            if !progressed { break }
        }
        return sent
    }

    /// Whether a pump would deliver nothing.
    public var isQuiescent: Bool {
        let (ar, aw) = a.readiness
        let (br, bw) = b.readiness
        return !(ar || aw || br || bw)
    }

    /// `dialer` dials over `a`, `acceptor` accepts `b`, the dial completes, then pumps.
    @discardableResult
    public func connect(dialer: F2FNode, acceptor: F2FNode) -> (dialerPeer: Peer, acceptorPeer: Peer) {
        let dialerPeer = dialer.addOutbound(a)
        acceptor.acceptIncoming(b)
        guard let acceptorPeer = acceptor.peers.values.first(where: { $0.connection === b }) else {
            preconditionFailure("the acceptor dropped the connection it just accepted")
        }
        a.establish()
        pump()
        return (dialerPeer, acceptorPeer)
    }
}

extension F2FNode {
    /// The peer owning `connection`, open or not yet removed.
    public func peer(on connection: any Connection) -> Peer? {
        peers.values.first { $0.connection === connection }
    }
}
