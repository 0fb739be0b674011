import EthernetSwitch
import F2FPosix

/// The sending half of a port on a connected datagram socket: frames staged in a batch go
/// out with one `sendmmsg`; what the socket cannot take yet waits in the bounded burst queue
/// and leaves when the socket turns writable, and the engine holds the senders meanwhile.
final class DatagramEgress {
    private let descriptor: Int32
    private let port: Int
    private unowned let engine: SwitchEngine
    private let batch = SendBatch(capacity: 64)
    private let queue: FrameQueue
    /// Called when the socket starts or stops needing a watch for writability: exactly while
    /// frames wait in the queue.
    private let writableInterestChanged: () -> Void
    private var wantsWritable = false
    /// Told when the socket refuses a batch (a connected peer gone: ECONNREFUSED), after the
    /// frames were counted as dropped.
    var sendFailed: ((SystemError) -> Void)?

    init(descriptor: Int32, port: Int, engine: SwitchEngine, writableInterestChanged: @escaping () -> Void) {
        self.descriptor = descriptor
        self.port = port
        self.engine = engine
        self.queue = FrameQueue(capacity: engine.burstQueueCapacity, slotSize: engine.maxFrameSize)
        self.writableInterestChanged = writableInterestChanged
    }

    var queuedCount: Int { queue.count }

    @inline(__always)
    func stage(_ frame: UnsafeRawBufferPointer) {
        if batch.isFull { flush() }
        // Once frames are waiting, new ones queue behind them to keep the order.
        if !queue.isEmpty {
            enqueue(frame)
        } else {
            batch.append(frame)
        }
    }

    func flush() {
        guard !batch.isEmpty else { return }
        defer { batch.removeAll() }
        let sent: Int
        do {
            sent = try batch.send(on: descriptor)
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
    func handleWritable() {
        while !queue.isEmpty {
            let count = min(queue.count, batch.capacity)
            for offset in 0..<count { batch.append(queue.frame(at: offset)) }
            let sent: Int
            do {
                sent = try batch.send(on: descriptor)
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
        writableInterestChanged()
    }
}
