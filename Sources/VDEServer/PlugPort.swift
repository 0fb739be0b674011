import EthernetSwitch
import F2FPosix
import VDEPlug

/// A switch port whose other end is any vdeplug4 URL (`--plug vde:///other/switch`,
/// `vxvde://…`): frames cross through libvdeplug, one call per frame, with the same
/// bounded burst queue and the same pausing as a local client.
public final class PlugPort: PortLink {
    public let port: Int
    public let kind = "vdeplug"
    public let url: String
    public var linkDescription: String { url }
    public let userName = "NONE"
    public let endpointID: Int
    private let connection: VDEPlugConnection
    private unowned let engine: SwitchEngine
    private let queue: FrameQueue
    private let dataDescriptor: Int32
    private let controlDescriptor: Int32
    private var isOpen = true
    private var isReceiving = true
    /// libvdeplug copies each frame here; a frame longer than the switch accepts shows as one
    /// byte too many and is dropped as oversize.
    private let receiveBuffer: UnsafeMutableRawBufferPointer

    public init(url: String, port: Int, engine: SwitchEngine, description: String) throws(SystemError) {
        connection = try VDEPlugConnection(url: url, description: description)
        connection.setNonBlocking()
        self.url = url
        self.port = port
        self.engine = engine
        dataDescriptor = connection.dataDescriptor
        controlDescriptor = connection.controlDescriptor
        endpointID = Int(dataDescriptor)
        queue = FrameQueue(capacity: engine.burstQueueCapacity, slotSize: engine.maxFrameSize)
        receiveBuffer = .allocate(byteCount: engine.maxFrameSize + 1, alignment: 16)
    }

    deinit {
        receiveBuffer.deallocate()
    }

    public func activate() throws(SystemError) {
        try engine.loop.register(dataDescriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
            if readiness.contains(.writable) { self.sendQueued() }
            if readiness.contains(.readable) { self.receiveFrames() }
        })
        if controlDescriptor >= 0, controlDescriptor != dataDescriptor {
            try engine.loop.register(controlDescriptor, interest: .readable, handler: IOCallback { [unowned self] _ in
                self.engine.detach(port: self.port, reason: "\(self.url): the other side closed the connection")
            })
        }
    }

    private func receiveFrames() {
        let buffer = receiveBuffer
        // A bounded number per wake-up so one busy plug cannot starve the others.
        for _ in 0..<64 {
            let received: IOResult<Int>
            do {
                received = try connection.receive(into: buffer)
            } catch {
                engine.detach(port: port, reason: "\(url): \(error)")
                return
            }
            guard case .processed(let count) = received else { return }
            guard count > 0 else {
                engine.detach(port: port, reason: "\(url): end of stream")
                return
            }
            engine.forwardCopy(UnsafeRawBufferPointer(rebasing: buffer[..<count]), from: port)
            guard isOpen, isReceiving else { return }
        }
    }

    public func stage(_ frame: UnsafeRawBufferPointer) {
        if !queue.isEmpty || !trySend(frame) {
            enqueue(frame)
        }
    }

    public func flush() {}

    /// True when the frame was handed over or is lost for good; false means try later.
    private func trySend(_ frame: UnsafeRawBufferPointer) -> Bool {
        do {
            switch try connection.send(frame) {
            case .processed:
                engine.recordSent(port: port, byteCount: frame.count)
                return true
            case .wouldBlock:
                return false
            }
        } catch {
            engine.recordDrop(port: port, reason: .sendFailed)
            return true
        }
    }

    private func enqueue(_ frame: UnsafeRawBufferPointer) {
        guard queue.push(frame) else {
            engine.recordDrop(port: port, reason: .queueFull)
            return
        }
        if queue.count == 1 { updateInterest() }
    }

    private func sendQueued() {
        while !queue.isEmpty, trySend(queue.frame(at: 0)) {
            queue.removeFirst(1)
        }
        if queue.isEmpty {
            updateInterest()
            engine.egressDrained(port: port)
        }
    }

    public var isBackedUp: Bool { !queue.isEmpty }

    /// Paused, the plug's frames wait in its socket: the switch or program at the other end
    /// (a client of its own switch) finds it full and slows down in turn.
    public func pauseReceiving() -> Bool {
        guard isOpen, isReceiving else { return false }
        isReceiving = false
        updateInterest()
        return true
    }

    public func resumeReceiving() {
        guard isOpen, !isReceiving else { return }
        isReceiving = true
        updateInterest()
    }

    /// Readable unless paused; writable while frames wait for the socket.
    private func updateInterest() {
        engine.loop.setInterest(IOInterest(readable: isReceiving, writable: isBackedUp), for: dataDescriptor)
    }

    public func close() {
        guard isOpen else { return }
        isOpen = false
        engine.loop.deregister(dataDescriptor)
        if controlDescriptor >= 0 { engine.loop.deregister(controlDescriptor) }
        connection.close()
    }
}
