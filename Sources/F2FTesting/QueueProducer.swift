import F2FCore

/// An `OutboundProducer` with a queue of packets, loaded one per call when the slot is free.
public final class QueueProducer: OutboundProducer {
    public let name: String
    public private(set) var queue: [PacketBytes.Packet] = []
    /// Names of producers in the order they were asked, shared to check priority order.
    public let askLog: AskLog
    /// Only this peer is served, if set.
    public var onlyPeer: Int?

    public final class AskLog {
        public private(set) var names: [String] = []

        public init() {}

        func append(_ name: String) {
            names.append(name)
        }

        public func removeAll() {
            names.removeAll()
        }
    }

    public init(name: String, askLog: AskLog = AskLog()) {
        self.name = name
        self.askLog = askLog
    }

    public func enqueue(_ type: F2FPacketType, payload: [UInt8] = []) {
        queue.append(PacketBytes.Packet(type: type, payload: payload))
    }

    public func produce(for peer: Peer, into slot: OutboundSlot) -> Bool {
        askLog.append(name)
        if let onlyPeer, peer.id != onlyPeer { return false }
        guard !queue.isEmpty else { return false }
        let packet = queue.removeFirst()
        packet.payload.withUnsafeBytes { slot.load(packet.type, payload: $0) }
        return true
    }
}
