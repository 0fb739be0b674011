import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import Logging
import SwitchRuntime

/// Serves the vde2 control protocol on `DIR/ctl`: each accepted client gets a port and a
/// fresh data socket; clients that cannot be served are closed promptly with a log line.
public final class VDEServer {
    public let directory: SocketDirectory
    private let engine: SwitchEngine
    private let logger: Logger
    private var pending: [Int32: ControlHandshake] = [:]
    /// A client must finish its request within this time (a silent client cannot pin a socket).
    public var requestTimeout: Duration = .seconds(5)
    public var maximumPendingHandshakes = 64
    /// Socket buffer for the switch side of each data socket: room for a burst of full-size
    /// frames; more only lets a receiver fall further behind (back-pressure handles the rest).
    public var dataSocketBufferBytes: Int32 = 256 << 10
    /// The spanning tree guards of a client's port. Root guard by default: anyone who may open
    /// the socket directory must not take the root with one BPDU; a VDE cable to another
    /// switch that must be able to lead to the root is an operator's choice (`--client-root`).
    public var clientGuards = STPPortGuards(rootGuard: true)
    private var rest: ListenerRest?
    private let warnings: ThrottledLogger
    /// Times the ctl listener rested because accept found no descriptor free.
    public var acceptPauses: UInt64 { rest?.count ?? 0 }
    /// Clients refused because the socket they named was not theirs (or not a socket).
    public private(set) var clientSocketRefusals: UInt64 = 0

    public init(directory: SocketDirectory, engine: SwitchEngine, logger: Logger) {
        self.directory = directory
        self.engine = engine
        self.logger = logger
        warnings = ThrottledLogger(logger: logger) { [unowned loop = engine.loop] in loop.now }
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }

    public func start() throws(ServerSocketError) {
        try directory.open(logger: logger)
        guard let listener = directory.listenerDescriptor else { return }
        rest = ListenerRest(loop: engine.loop, descriptors: [listener])
        do {
            try engine.loop.register(listener, interest: .readable, handler: IOCallback { [unowned self] _ in
                self.acceptClients(listener: listener)
            })
        } catch {
            throw .system(SystemError(error))
        }
        engine.loop.scheduleRepeating(every: .seconds(1)) { [weak self] in self?.expireStalledHandshakes() }
    }

    public func stop() {
        for descriptor in Array(pending.keys) { refuse(descriptor, reason: "switch shutting down", level: .debug) }
        rest?.cancel()
        if let listener = directory.listenerDescriptor { engine.loop.deregister(listener) }
        directory.close()
    }

    private func acceptClients(listener: Int32) {
        rest?.acceptAll(from: listener, shortage: { error in
            warnings.warning("ctl-accept", "accept failed; the ctl listener rests until descriptors are free", metadata: ["error": "\(error)"])
        }) { accepted in
            let handshake = ControlHandshake(control: accepted, acceptedAt: engine.loop.now)
            let descriptor = handshake.descriptor
            if pending.count >= maximumPendingHandshakes {
                warnings.warning("ctl-pending", "too many clients in handshake; refusing one")
                return  // handshake (and its descriptor) is released here
            }
            do {
                try engine.loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] _ in
                    self.continueHandshake(descriptor)
                })
            } catch {
                logger.error("cannot watch control connection", metadata: ["error": "\(error)"])
                return
            }
            pending[descriptor] = handshake
        }
    }

    private func continueHandshake(_ descriptor: Int32) {
        guard let handshake = pending[descriptor] else { return }
        switch handshake.readRequest() {
        case .needMore:
            return
        case .failed(let reason):
            refuse(descriptor, reason: reason)
        case .request(let request):
            serve(request, handshake: handshake)
        }
    }

    private func refuse(_ descriptor: Int32, reason: String, level: Logger.Level = .warning) {
        engine.loop.deregister(descriptor)
        pending[descriptor] = nil  // closes the control stream
        // The reason may quote the client's request (its socket path): escaped for the log line.
        let line: Logger.Message = "refused VDE client: \(LogText.escaped(reason))"
        if level == .warning {
            warnings.warning("ctl-refused", line, metadata: ["fd": "\(descriptor)"])
        } else {
            logger.log(level: level, line, metadata: ["fd": "\(descriptor)"])
        }
    }

    private func expireStalledHandshakes() {
        // The loop's clock, like every other deadline (a manual loop can drive it in tests).
        let deadline = engine.loop.now - requestTimeout
        for (descriptor, handshake) in pending where handshake.acceptedAt < deadline {
            refuse(descriptor, reason: "no complete request within \(requestTimeout)")
        }
    }

    /// Step 3 of Appendix B (docs/vde-protocol.md): check the client socket, allocate the port,
    /// create, connect and bind the data socket, then reply with its address in one write.
    private func serve(_ request: VDERequest, handshake: ControlHandshake) {
        let descriptor = handshake.descriptor
        // Who connected, as the kernel saw it: the socket the request names must be theirs.
        let client: PeerCredentials
        do {
            client = try UnixSocket.peerCredentials(descriptor)
        } catch {
            refuse(descriptor, reason: "cannot read the client's credentials: \(error)")
            return
        }

        let requestedPort: Int?
        switch request.kind {
        case .newControl(let port): requestedPort = port
        case .newPort0: requestedPort = 0
        }
        let port: Int
        switch engine.allocatePort(requested: requestedPort) {
        case .success(let allocated): port = allocated
        case .failure(let error):
            refuse(descriptor, reason: "\(error) (\(request.description))")
            return
        }

        let dataName = directory.makeDataSocketName(port: port)
        let dataPath = directory.path + "/" + dataName
        guard let dataAddress = UnixSocketAddress(path: dataPath) else {
            refuse(descriptor, reason: "data socket path too long: \(dataPath)")
            return
        }
        let data: Descriptor
        do {
            data = try UnixSocket.makeDatagram()
        } catch {
            refuse(descriptor, reason: "cannot create data socket: \(error)")
            return
        }
        // Abstract names have no owner and no permissions (anyone may send to them); vde_switch
        // skips its check for them too. A path is connected to only if it is the client's own.
        var clientUserID: UInt32?
        if let path = request.clientAddress.path {
            do {
                clientUserID = try UnixSocket.connect(data.rawValue, toSocketAt: path, ownedBy: client)
            } catch {
                if case .system = error {} else { clientSocketRefusals &+= 1 }
                refuse(descriptor, reason: "\(error) (pid \(client.processID))")
                return
            }
        }
        do {
            UnixSocket.setSendBufferSize(data.rawValue, bytes: dataSocketBufferBytes)
            UnixSocket.setReceiveBufferSize(data.rawValue, bytes: dataSocketBufferBytes)
            if request.clientAddress.isAbstract { try UnixSocket.connect(data.rawValue, to: request.clientAddress) }
            try directory.bindDataSocket(data.rawValue, name: dataName, clientUserID: ProcessEnvironment.effectiveUserID == 0 ? clientUserID : nil)
        } catch {
            directory.removeEntry(dataName)
            refuse(descriptor, reason: "cannot set up data socket: \(error)")
            return
        }

        var reply = [UInt8]()
        reply.reserveCapacity(UnixSocketAddress.encodedCount)
        dataAddress.encode(into: &reply)
        let written = reply.withUnsafeBytes { bytes in
            Result { () throws(SystemError) in try UnixSocket.write(descriptor, from: bytes) }
        }
        guard case .success(.processed(UnixSocketAddress.encodedCount)) = written else {
            directory.removeEntry(dataName)
            refuse(descriptor, reason: "could not write the 110-byte reply")
            return
        }

        engine.loop.deregister(descriptor)
        pending[descriptor] = nil
        guard let control = handshake.takeControl() else { return }
        let endpoint = VDEEndpoint(
            port: port, control: control, data: data, dataName: dataName, directory: directory,
            description: request.description, userName: PortUser.name(clientUserID), engine: engine)
        do {
            try endpoint.activate()
        } catch {
            endpoint.close()
            logger.error("cannot watch endpoint", metadata: ["port": "\(port)", "error": "\(error)"])
            return
        }
        engine.attach(endpoint, port: port, guards: clientGuards)
    }
}
