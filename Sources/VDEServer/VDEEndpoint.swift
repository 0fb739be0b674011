import EthernetSwitch
import F2FCore
import F2FPosix
import SwitchRuntime

/// A VDE client attached to a port: its control stream (liveness only) and the switch-side
/// data socket `DIR/NNN.S`, connected to the client's own socket.
final class VDEEndpoint: PortLink {
    let port: Int
    let kind = "unix prog"
    let linkDescription: String
    let userName: String
    let endpointID: Int
    /// The data socket's name in `directory`, removed through it when the client goes.
    let dataName: String
    private let directory: SocketDirectory
    private var control: Descriptor?
    private var data: Descriptor?
    private let controlDescriptor: Int32
    private let dataDescriptor: Int32
    private unowned let engine: SwitchEngine
    private var egress: QueuedEgress<DatagramTransport>!
    private var interest: DataSocketInterest
    private var reader: DatagramReader

    init(
        port: Int, control: consuming Descriptor, data: consuming Descriptor, dataName: String, directory: SocketDirectory,
        description: String, userName: String, engine: SwitchEngine
    ) {
        self.port = port
        self.controlDescriptor = control.rawValue
        self.dataDescriptor = data.rawValue
        self.endpointID = Int(control.rawValue)
        self.control = consume control
        self.data = consume data
        self.dataName = dataName
        self.directory = directory
        self.linkDescription = description
        self.userName = userName
        self.engine = engine
        interest = DataSocketInterest(descriptor: dataDescriptor, loop: engine.loop)
        reader = DatagramReader(descriptor: dataDescriptor)
        egress = QueuedEgress(transport: DatagramTransport(descriptor: dataDescriptor), port: port, engine: engine) { [unowned self] wanted in
            interest.setWritable(wanted)
        }
    }

    /// Starts watching both descriptors.
    func activate() throws(LoopRegistrationError) {
        try engine.loop.register(dataDescriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
            self.dataReady(readiness)
        })
        try engine.loop.register(controlDescriptor, interest: .readable, handler: IOCallback { [unowned self] _ in
            self.controlReady()
        })
    }

    private func dataReady(_ readiness: IOReadiness) {
        if readiness.contains(.writable) {
            egress.handleWritable()
        }
        if readiness.contains(.readable) {
            reader.drain(into: engine, port: port)
        }
    }

    /// The control stream is silent after the handshake: EOF means the client left, and any
    /// byte is a protocol error (vde_switch would parse it as a new request).
    private func controlReady() {
        var byte: UInt8 = 0
        let result = withUnsafeMutableBytes(of: &byte) { buffer in
            Result { () throws(SystemError) in try UnixSocket.read(controlDescriptor, into: buffer) }
        }
        switch result {
        case .success(.wouldBlock):
            return
        case .success(.processed(0)):
            engine.detach(port: port, reason: "client closed its control stream")
        case .success(.processed):
            engine.detach(port: port, reason: "protocol error: data on the control stream after the handshake")
        case .failure(let error):
            engine.detach(port: port, reason: "control stream error: \(error)")
        }
    }

    func stage(_ frame: UnsafeRawBufferPointer) {
        egress.stage(frame)
    }

    func flush() {
        egress.flush()
    }

    var isBackedUp: Bool { egress.isBackedUp }

    func pauseReceiving() -> Bool {
        interest.pause()
    }

    func resumeReceiving() {
        interest.resume()
    }

    func close() {
        guard control != nil else { return }
        interest.close()
        engine.loop.deregister(controlDescriptor)
        directory.removeEntry(dataName)
        data = nil
        control = nil
    }
}
