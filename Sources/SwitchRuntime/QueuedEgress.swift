import EthernetSwitch
import F2FPosix

/// The one way out of the engine for a link that sends frames as they are (a VDE client's
/// data socket, a `--dgram` port, a `--plug`): the engine stages a batch's frames and
/// flushes once; the transport sends them (one `sendmmsg` on a datagram socket); what it
/// cannot take yet waits in the bounded burst queue and leaves, in order, when the socket
/// turns writable, and the engine holds the senders meanwhile. When the queue empties, the
/// engine is told (`egressDrained`), which resumes them.
public final class QueuedEgress<Transport: EgressTransport> {
    private let transport: Transport
    private let port: Int
    private unowned let engine: SwitchEngine
    private let batch = SendBatch(capacity: 64)
    private let queue: FrameQueue
    /// Told whether the socket needs a watch for writability when that changes: exactly while
    /// frames wait in the queue.
    private let writableInterestChanged: (Bool) -> Void
    // Touched on the loop's thread only; no dynamic exclusivity check on the per-batch path.
    @exclusivity(unchecked) private var wantsWritable = false
    /// Told when the transport refuses a batch (a connected peer gone: ECONNREFUSED), after
    /// the frames were counted as dropped.
    public var sendFailed: ((SystemError) -> Void)?

    public init(transport: Transport, port: Int, engine: SwitchEngine, writableInterestChanged: @escaping (Bool) -> Void) {
        self.transport = transport
        self.port = port
        self.engine = engine
        self.queue = FrameQueue(capacity: engine.burstQueueCapacity, slotSize: engine.maxFrameSize)
        self.writableInterestChanged = writableInterestChanged
    }

    /// Frames wait for the socket: the link's `PortLink.isBackedUp`.
    public var isBackedUp: Bool { !queue.isEmpty }

    @inline(__always)
    public func stage(_ frame: UnsafeRawBufferPointer) {
        if batch.isFull { flush() }
        // Once frames are waiting, new ones queue behind them to keep the order.
        if !queue.isEmpty {
            enqueue(frame)
        } else {
            batch.append(frame)
        }
    }

    public func flush() {
        guard !batch.isEmpty else { return }
        defer { batch.removeAll() }
        let sent: Int
        do {
            sent = try transport.send(batch)
        } catch {
            // The client closed its data socket (ECONNREFUSED) or the kernel is out of
            // buffers: these frames are lost; the control stream decides when the port goes.
            for _ in 0..<batch.count { engine.recordDrop(port: port, reason: .sendFailed) }
            sendFailed?(error)
            return
        }
        for index in 0..<sent {
            engine.recordSent(port: port, byteCount: batch.frame(index).count)
        }
        for index in sent..<batch.count {
            enqueue(batch.frame(index))
        }
    }

    /// The socket can take more: send the queue in order.
    public func handleWritable() {
        while !queue.isEmpty {
            let count = min(queue.count, batch.capacity)
            for offset in 0..<count { batch.append(queue.frame(at: offset)) }
            let sent: Int
            do {
                sent = try transport.send(batch)
            } catch {
                for _ in 0..<queue.count { engine.recordDrop(port: port, reason: .sendFailed) }
                queue.removeAll()
                batch.removeAll()
                sendFailed?(error)
                break
            }
            for index in 0..<sent {
                engine.recordSent(port: port, byteCount: batch.frame(index).count)
            }
            batch.removeAll()
            queue.removeFirst(sent)
            if sent < count { break }
        }
        updateWritableInterest()
        if queue.isEmpty { engine.egressDrained(port: port) }
    }

    private func enqueue(_ frame: UnsafeRawBufferPointer) {
        if queue.push(frame) {
            updateWritableInterest()
        } else {
            engine.recordDrop(port: port, reason: .queueFull)
        }
    }

    private func updateWritableInterest() {
        let wanted = !queue.isEmpty
        guard wanted != wantsWritable else { return }
        wantsWritable = wanted
        writableInterestChanged(wanted)
    }
}

/// Where a `QueuedEgress` sends.
public protocol EgressTransport {
    /// Sends the batch's frames in order; returns how many the other end took (0 if it would
    /// block at once), the rest wait for writability. Throws when the frames are lost.
    func send(_ batch: SendBatch) throws(SystemError) -> Int
}

/// A connected datagram socket: one `sendmmsg` for the whole batch.
public struct DatagramTransport: EgressTransport {
    public let descriptor: Int32

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    @inline(__always)
    public func send(_ batch: SendBatch) throws(SystemError) -> Int {
        try batch.send(on: descriptor)
    }
}
