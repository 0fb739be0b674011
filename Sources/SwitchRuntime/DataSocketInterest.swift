import F2FCore
import F2FPosix

/// What the loop watches on a link's data socket, the same for every link that owns one (a
/// VDE client, a `--plug`, a `--dgram` port): readable unless the engine paused the link,
/// writable while frames wait in its egress queue. Paused, the client's frames wait in its
/// socket, which slows it down instead of making the switch drop them.
public struct DataSocketInterest {
    public let descriptor: Int32
    private let loop: any EventLoop
    public private(set) var isReceiving = true
    public private(set) var isOpen = true
    private var wantsWritable = false

    public init(descriptor: Int32, loop: any EventLoop) {
        self.descriptor = descriptor
        self.loop = loop
    }

    /// False when the link was already paused or has closed.
    public mutating func pause() -> Bool {
        guard isOpen, isReceiving else { return false }
        isReceiving = false
        update()
        return true
    }

    public mutating func resume() {
        guard isOpen, !isReceiving else { return }
        isReceiving = true
        update()
    }

    /// Watches for writability exactly while `wanted` (frames wait in the egress queue).
    public mutating func setWritable(_ wanted: Bool) {
        guard wanted != wantsWritable else { return }
        wantsWritable = wanted
        update()
    }

    /// The socket leaves the loop; from now on pausing and resuming do nothing.
    public mutating func close() {
        guard isOpen else { return }
        isOpen = false
        loop.deregister(descriptor)
    }

    private func update() {
        guard isOpen else { return }
        loop.setInterest(IOInterest(readable: isReceiving, writable: wantsWritable), for: descriptor)
    }
}
