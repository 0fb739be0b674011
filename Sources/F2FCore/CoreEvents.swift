/// What the core tells its listeners about a peer (thesis 3.5, "core events"; docs/thesis.md).
public enum CoreEvent: Equatable, Sendable {
    /// The handshake completed: the peer can carry traffic (PEER_IO_CONNECTING).
    case connected
    /// A packet arrived; its payload is lent for the duration of the call (PEER_IO_RW, read).
    case packet(F2FPacketType)
    /// The outbound slot is free again (PEER_IO_RW, write).
    case writable
    /// The link is gone (PEER_IO_DISCONNECTED).
    case disconnected(reason: String)
}

/// A listener's answer to `.packet`; other events ignore it.
public enum ListenerVerdict: Equatable, Sendable {
    /// Mine, consumed: stop offering it.
    case claimed
    /// Not mine: offer it to the next listener.
    case ignored
    /// Mine, but I cannot take it now: keep it, stop reading from this peer until
    /// `Peer.resumeReading()`.
    case deferred
}

/// A component that observes peers. Listeners are called in registration order, which is
/// their priority; the context is handed back on every call (the thesis's user pointer).
public protocol CoreListener: AnyObject {
    func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict
    /// Whether `.writable` reaches this listener. It fires after every packet sent, so only
    /// the listeners that ask for it at registration get it, and a link nobody watches that
    /// way pays nothing per packet for it.
    var wantsWritable: Bool { get }
}

extension CoreListener {
    public var wantsWritable: Bool { false }
}

/// A component with packets to send. Asked, in priority order, whenever a peer's single
/// outbound slot is free: pull, never push, so nothing queues without bound.
public protocol OutboundProducer: AnyObject {
    /// Loads the next packet for `peer` into `slot` and returns true, or returns false.
    func produce(for peer: Peer, into slot: OutboundSlot) -> Bool
}

/// Lower values are asked first.
public struct ProducerPriority: Comparable, Hashable, Sendable {
    public let rawValue: Int

    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// Handshake, keepalive, refusals.
    public static let control = ProducerPriority(rawValue: 0)
    /// Spanning tree: never behind bulk frames.
    public static let spanningTree = ProducerPriority(rawValue: 10)
    public static let bulk = ProducerPriority(rawValue: 100)

    public static func < (lhs: ProducerPriority, rhs: ProducerPriority) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

public struct ListenerToken: Hashable, Sendable {
    let value: Int
}
