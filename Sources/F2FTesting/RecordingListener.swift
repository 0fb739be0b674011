import F2FCore

/// A `CoreListener` that records what it sees and answers with a chosen verdict.
public final class RecordingListener: CoreListener {
    public struct Entry: Equatable, CustomStringConvertible {
        public var listener: String
        public var event: CoreEvent
        public var peerID: Int
        public var payload: [UInt8]
        /// Identity of the context handed back, compared with `===` by the recorder.
        public var contextMatched: Bool

        public var description: String {
            "\(listener): \(event) peer \(peerID) (\(payload.count) bytes)"
        }
    }

    /// Shared by several listeners so their call order is visible.
    public final class Journal {
        public private(set) var entries: [Entry] = []

        public init() {}

        func append(_ entry: Entry) {
            entries.append(entry)
        }

        public func removeAll() {
            entries.removeAll()
        }

        /// The entries for packets (not connected/writable/disconnected).
        public var packets: [Entry] {
            entries.filter { if case .packet = $0.event { true } else { false } }
        }

        public func events(of listener: String) -> [CoreEvent] {
            entries.filter { $0.listener == listener }.map(\.event)
        }
    }

    public let name: String
    public let journal: Journal
    /// The context this listener expects back (registered with it).
    public let expectedContext: AnyObject?
    /// The answer to `.packet`; `.ignored` by default.
    public var verdict: (F2FPacketType, Peer) -> ListenerVerdict = { _, _ in .ignored }
    /// Called after recording, for listeners that act (close a peer, resume reading).
    public var onEvent: ((CoreEvent, Peer) -> Void)?
    /// Whether `.writable` is recorded (it fires after every packet sent).
    public var recordsWritable = false
    /// Always: `recordsWritable` may be turned on after registration.
    public var wantsWritable: Bool { true }

    public init(name: String, journal: Journal = Journal(), expectedContext: AnyObject? = nil) {
        self.name = name
        self.journal = journal
        self.expectedContext = expectedContext
    }

    public var entries: [Entry] {
        journal.entries.filter { $0.listener == name }
    }

    public var events: [CoreEvent] {
        entries.map(\.event)
    }

    public func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        if event == .writable, !recordsWritable { return .ignored }
        journal.append(Entry(listener: name, event: event, peerID: peer.id, payload: Array(payload), contextMatched: context === expectedContext))
        onEvent?(event, peer)
        if case .packet(let type) = event { return verdict(type, peer) }
        return .ignored
    }
}
