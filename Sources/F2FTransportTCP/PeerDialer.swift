import F2FBase
import F2FCore
import F2FPosix
import Logging

/// Keeps the configured outbound peers (`--peer HOST:PORT`, `peer/add`) connected: a link
/// that fails or dies is redialled with capped, jittered exponential backoff for as long as
/// the switch runs. One dial per entry at a time: a new one starts only from the redial timer,
/// which is set only when the entry's dial failed or its link closed.
public final class PeerDialer: CoreListener {
    /// Opens a connection to an address: `TCPConnection.connect` in the switch, a scripted
    /// connection in tests.
    public typealias Connector = (TCPAddress) throws(ConnectionError) -> any Connection

    public enum LinkState: Equatable, Sendable {
        case dialing
        case connected
        case waiting(until: Instant)
    }

    public struct Entry {
        public let id: Int
        public let address: TCPAddress
        /// The id this address must present (`ID@HOST:PORT`), as the security layer spells it.
        public let pinnedID: String?
        public fileprivate(set) var state: LinkState = .dialing
        /// Dials after the first one.
        public fileprivate(set) var reconnects = 0
        public fileprivate(set) var lastError: String?
        public fileprivate(set) weak var peer: Peer?
        fileprivate var backoff: ReconnectBackoff
        fileprivate var timer: EventLoop.TimerID?
    }

    private let node: F2FNode
    private let loop: any EventLoop
    private let logger: Logger
    private let connect: Connector
    public private(set) var entries: [Entry] = []
    private var nextID = 1
    /// Layers a provider over each new TCP connection (the Noise layer); plain TCP by default.
    public var secure: (any Connection, Entry) -> any Connection = { connection, _ in connection }

    public init(node: F2FNode, loop: any EventLoop, logger: Logger, connector: Connector? = nil) {
        self.node = node
        self.loop = loop
        self.logger = logger
        if let connector {
            connect = connector
        } else {
            connect = { address throws(ConnectionError) -> any Connection in try TCPConnection.connect(to: address, loop: loop) }
        }
        node.addListener(self)
        let previous = node.onPeerClosed
        node.onPeerClosed = { [weak self] peer, reason in
            previous?(peer, reason)
            self?.peerClosed(peer, reason: reason)
        }
    }

    @discardableResult
    public func add(_ address: TCPAddress, pinnedID: String? = nil) -> Int {
        let id = nextID
        nextID += 1
        entries.append(Entry(id: id, address: address, pinnedID: pinnedID, backoff: ReconnectBackoff(seed: UInt64(id) &* 0x9E37_79B9 ^ UInt64(address.port))))
        dial(id)
        return id
    }

    /// Stops redialling and closes the link; false if there is no such entry.
    @discardableResult
    public func remove(id: Int) -> Bool {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return false }
        let entry = entries.remove(at: index)
        if let timer = entry.timer { loop.cancelTimer(timer) }
        entry.peer?.close(reason: "removed from the peer list")
        return true
    }

    public func entry(for peer: Peer) -> Entry? {
        entries.first { $0.peer === peer }
    }

    private func dial(_ id: Int) {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
        entries[index].timer = nil
        entries[index].state = .dialing
        do {
            let connection = try connect(entries[index].address)
            entries[index].peer = node.addOutbound(secure(connection, entries[index]))
        } catch {
            entries[index].lastError = error.description
            scheduleRedial(index)
        }
    }

    private func scheduleRedial(_ index: Int) {
        let delay = entries[index].backoff.nextDelay()
        let id = entries[index].id
        entries[index].state = .waiting(until: loop.now + delay)
        entries[index].reconnects += 1
        logger.debug("redialling peer", metadata: ["peer": "\(entries[index].address)", "in": "\(delay)"])
        entries[index].timer = loop.schedule(after: delay) { [weak self] in self?.dial(id) }
    }

    private func peerClosed(_ peer: Peer, reason: String) {
        guard let index = entries.firstIndex(where: { $0.peer === peer }) else { return }
        entries[index].peer = nil
        entries[index].lastError = reason
        if entries[index].state == .connected {
            logger.info("link to peer lost; redialling", metadata: ["peer": "\(entries[index].address)", "reason": "\(reason)"])
        }
        scheduleRedial(index)
    }

    public func handle(_ event: CoreEvent, peer: Peer, payload: UnsafeRawBufferPointer, context: AnyObject?) -> ListenerVerdict {
        if event == .connected, let index = entries.firstIndex(where: { $0.peer === peer }) {
            entries[index].state = .connected
            entries[index].lastError = nil
            entries[index].backoff.reset()
        }
        return .ignored
    }
}
