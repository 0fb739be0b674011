import EthernetSwitch
import F2FCore
import F2FPosix
import VDEPlug

/// A switch port whose other end is any vdeplug4 URL (`--plug vde:///other/switch`,
/// `vxvde://…`): frames cross through libvdeplug, one call per frame, with the same queued
/// egress and the same pausing as a local client.
public final class PlugPort: PortLink {
    public let port: Int
    public let kind = "vdeplug"
    public let url: String
    public var linkDescription: String { url }
    public let userName = "NONE"
    public let endpointID: Int
    private let connection: VDEPlugConnection
    private unowned let engine: SwitchEngine
    private var egress: QueuedEgress<PlugTransport>!
    private let dataDescriptor: Int32
    private let controlDescriptor: Int32
    private var interest: DataSocketInterest
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
        interest = DataSocketInterest(descriptor: dataDescriptor, loop: engine.loop)
        receiveBuffer = .allocate(byteCount: engine.maxFrameSize + 1, alignment: 16)
        egress = QueuedEgress(transport: PlugTransport(connection: connection), port: port, engine: engine) { [unowned self] wanted in
            interest.setWritable(wanted)
        }
    }

    deinit {
        receiveBuffer.deallocate()
    }

    public func activate() throws(LoopRegistrationError) {
        try engine.loop.register(dataDescriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
            if readiness.contains(.writable) { self.egress.handleWritable() }
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
            engine.receive(UnsafeRawBufferPointer(rebasing: buffer[..<count]), from: port)
            guard interest.isOpen, interest.isReceiving else { return }
        }
    }

    public func stage(_ frame: UnsafeRawBufferPointer) {
        egress.stage(frame)
    }

    public func flush() {
        egress.flush()
    }

    public var isBackedUp: Bool { egress.isBackedUp }

    /// Paused, the plug's frames wait in its socket: the switch or program at the other end
    /// (a client of its own switch) finds it full and slows down in turn.
    public func pauseReceiving() -> Bool {
        interest.pause()
    }

    public func resumeReceiving() {
        interest.resume()
    }

    public func close() {
        guard interest.isOpen else { return }
        interest.close()
        if controlDescriptor >= 0 { engine.loop.deregister(controlDescriptor) }
        connection.close()
    }
}

/// libvdeplug has no batch call: a call per frame, until the connection would block.
struct PlugTransport: EgressTransport {
    let connection: VDEPlugConnection

    func send(_ batch: SendBatch) throws(SystemError) -> Int {
        for index in 0..<batch.count {
            let result: IOResult<Int>
            do {
                result = try connection.send(batch.frame(index))
            } catch {
                // What went before is sent; the failing frame is reported on the next call.
                if index == 0 { throw error }
                return index
            }
            guard case .processed = result else { return index }
        }
        return batch.count
    }
}
