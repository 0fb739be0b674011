import F2FBase
import F2FCore
import F2FTesting
import Logging
import Synchronization

/// Captures what the core logs, so tests can check that a refusal or a disconnect was logged.
final class LogRecorder: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let storage = Mutex<[Record]>([])

    var records: [Record] {
        storage.withLock { $0 }
    }

    func records(_ message: String) -> [Record] {
        records.filter { $0.message == message }
    }

    var logger: Logger {
        Logger(label: "f2f.core") { _ in Handler(recorder: self) }
    }

    fileprivate func append(_ record: Record) {
        storage.withLock { $0.append(record) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append(Record(level: event.level, message: event.message.description, metadata: merged.mapValues(\.description)))
        }
    }
}

/// Virtual time, a log recorder and the reasons peers closed with, shared by the nodes of a test.
final class World {
    struct Closure: Equatable {
        var node: String
        var peerID: Int
        var reason: String
    }

    let clock = ManualClock()
    let log = LogRecorder()
    private(set) var closures: [Closure] = []

    func makeNode(_ name: String, id: UInt64, configure: (inout F2FNode.Configuration) -> Void = { _ in }) -> F2FNode {
        var configuration = F2FNode.Configuration()
        configure(&configuration)
        let node = F2FNode(nodeID: id, name: name, configuration: configuration, logger: log.logger, now: clock.reader)
        node.onPeerClosed = { [unowned self] peer, reason in
            closures.append(Closure(node: name, peerID: peer.id, reason: reason))
        }
        return node
    }

    func reasons(of node: String) -> [String] {
        closures.filter { $0.node == node }.map(\.reason)
    }
}

/// Two nodes, alpha dialing beta over a `ConnectionPair`, each with a recording listener and a
/// bulk producer registered before the handshake.
final class LinkedNodes {
    let world = World()
    let alpha: F2FNode
    let beta: F2FNode
    let pair = ConnectionPair()
    let alphaListener = RecordingListener(name: "alpha")
    let betaListener = RecordingListener(name: "beta")
    let alphaBulk = QueueProducer(name: "alpha-bulk")
    let betaBulk = QueueProducer(name: "beta-bulk")
    private(set) var alphaPeer: Peer!
    private(set) var betaPeer: Peer!

    init(connect: Bool = true, configure: (inout F2FNode.Configuration) -> Void = { _ in }) {
        alpha = world.makeNode("alpha", id: 0xA1FA, configure: configure)
        beta = world.makeNode("beta", id: 0xBE7A, configure: configure)
        alpha.addListener(alphaListener)
        beta.addListener(betaListener)
        alpha.addProducer(alphaBulk, priority: .bulk)
        beta.addProducer(betaBulk, priority: .bulk)
        if connect { self.connect() }
    }

    func connect() {
        let peers = pair.connect(dialer: alpha, acceptor: beta)
        alphaPeer = peers.dialerPeer
        betaPeer = peers.acceptorPeer
    }

    /// Queues a frame on alpha and carries it to beta.
    func sendFromAlpha(_ type: F2FPacketType = .ethernetFrame, payload: [UInt8]) {
        alphaBulk.enqueue(type, payload: payload)
        alphaPeer.pumpOutbound()
        pair.pump()
    }

    /// Advances time and lets both nodes run their timers, then carries the traffic.
    func advance(by duration: Duration, tickAlpha: Bool = true, tickBeta: Bool = true) {
        world.clock.advance(by: duration)
        if tickAlpha { alpha.tick() }
        if tickBeta { beta.tick() }
        pair.pump()
    }
}

extension Array where Element == RecordingListener.Entry {
    var packetPayloads: [[UInt8]] {
        compactMap { if case .packet = $0.event { $0.payload } else { nil } }
    }
}

/// Hello payload bytes with the given fields, for hand-made (and broken) hellos.
func helloPayload(magic: [UInt8] = Hello.magic, version: UInt8 = Hello.currentVersion, nodeID: UInt64 = 0x0102_0304_0506_0708, name: [UInt8] = Array("x".utf8)) -> [UInt8] {
    var bytes = magic
    bytes.append(version)
    bytes.appendBigEndian(UInt32(truncatingIfNeeded: nodeID >> 32))
    bytes.appendBigEndian(UInt32(truncatingIfNeeded: nodeID))
    return bytes + name
}
