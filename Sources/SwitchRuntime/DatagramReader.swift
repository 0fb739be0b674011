import F2FPosix

/// How a link reads its connected datagram socket (a VDE client's, a connected `--dgram`
/// port's): in batches (`recvmmsg`, 64 frames) into the engine's ingress buffers, each batch
/// handed to the engine's one way in. The link owns the socket and this reading; the engine
/// only forwards.
///
/// A socket whose last read found one frame, not in the previous loop iteration, most likely
/// holds one frame now too (a ping, a request): it is read with a single `recv`, which spares
/// that frame the cost of a batch read and its failed try for a second datagram. Frames
/// queued behind it leave the socket readable in the very next iteration, and that read
/// takes a batch.
public struct DatagramReader {
    public let descriptor: Int32
    /// Batches taken from one socket per wake-up before others get a turn.
    private static let batchesPerWakeup = 4
    /// Frames in one read that emptied the socket that mark the traffic as dense
    /// (`EventLoop.noteDenseInput`).
    private static let denseBatchSize = 8
    /// In which loop iteration the socket was last read, and how many frames that read found.
    private var lastReadIteration: UInt64 = 0
    private var lastReadCount = 0

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Reads what waits (a bounded number of batches) and hands it to `engine` as `port`'s.
    public mutating func drain(into engine: SwitchEngine, port: Int) {
        let loop = engine.loop
        let expectsLoneFrame = lastReadCount <= 1 && loop.iteration &- lastReadIteration > 1
        lastReadIteration = loop.iteration
        for _ in 0..<Self.batchesPerWakeup {
            let batch = engine.ingressBuffers()
            let count: Int
            do {
                switch try expectsLoneFrame ? batch.receiveOne(from: descriptor) : batch.receive(from: descriptor) {
                case .processed(let received): count = received
                case .wouldBlock: return
                }
            } catch {
                engine.logger.debug("receive failed", metadata: ["port": "\(port)", "error": "\(error)"])
                return
            }
            lastReadCount = count
            // A batch that emptied the socket yet held several frames: traffic is dense but
            // the switch keeps up, so the next look can wait for more. A full batch means it
            // is behind: no nap then.
            if count >= Self.denseBatchSize, count < batch.capacity { loop.noteDenseInput() }
            guard engine.receiveBatch(count: count, from: port), count == batch.capacity else { return }
        }
    }
}
