/// Packets a producer holds for its peers' outbound slots, first in first out per peer,
/// optionally the newest `limitPerPeer` only. Only peers with something waiting have an
/// entry: the slot asks every producer at every frame's turn, and while nothing waits anywhere
/// that ask ends at one emptiness check, without a lookup. Inlinable, so that the producers'
/// modules specialize it: unspecialized, each ask went through the generic runtime.
public struct PeerQueues<Element> {
    @usableFromInline var queues: [Int: [Element]] = [:]
    @usableFromInline let limitPerPeer: Int?

    @inlinable
    public init(limitPerPeer: Int? = nil) {
        precondition(limitPerPeer.map { $0 > 0 } ?? true, "a queue that holds nothing")
        self.limitPerPeer = limitPerPeer
    }

    @inlinable
    public func hasWaiting(for peerID: Int) -> Bool {
        queues[peerID] != nil
    }

    /// Queues `element` for the peer; at the limit, its oldest waiting one is dropped.
    @inlinable
    public mutating func append(_ element: Element, for peerID: Int) {
        var queue = queues.removeValue(forKey: peerID) ?? []
        if let limitPerPeer, queue.count == limitPerPeer { queue.removeFirst() }
        queue.append(element)
        queues[peerID] = queue
    }

    /// The peer's next element, taken off its queue; nil when none waits.
    @inlinable
    public mutating func next(for peerID: Int) -> Element? {
        guard !queues.isEmpty, var queue = queues.removeValue(forKey: peerID) else { return nil }
        let element = queue.removeFirst()
        if !queue.isEmpty { queues[peerID] = queue }
        return element
    }

    @inlinable
    public mutating func removeAll(for peerID: Int) {
        queues[peerID] = nil
    }
}
