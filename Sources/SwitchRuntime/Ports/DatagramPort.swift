import EthernetSwitch
import F2FCore
import F2FPosix
import Logging

/// A `--dgram PATH` port: QEMU's dgram netdev (`-netdev dgram,local.type=unix,…,
/// remote.type=unix,remote.path=PATH`) sends one frame per datagram, with no header (QEMU
/// net/dgram.c), from its own bound socket.
///
/// One port per `--dgram` socket, present from start-up. The switch answers whoever sent the
/// last frame from a new address: it connects its socket to that sender, so replies go out
/// batched (`sendmmsg`) with the same burst queue and back-pressure as a VDE client's, and the
/// kernel refuses datagrams from anyone else meanwhile (a second sender cannot mix into the
/// port). When the sender's socket goes (QEMU stopped), the next send fails, the kernel drops
/// the connection, and the next sender is learned.
public final class DatagramPort: PortLink {
    public let port: Int
    public let kind = "dgram unix"
    public let path: String
    public var linkDescription: String {
        "dgram \(path)" + (peer.map { " peer=\($0)" } ?? "")
    }
    public let userName = "NONE"
    public let endpointID: Int
    private var socket: Descriptor?
    private let descriptor: Int32
    private var directory: DirectoryHandle?
    private let name: String
    private unowned let engine: SwitchEngine
    private var egress: QueuedEgress<DatagramTransport>!
    private let warnings: ThrottledLogger
    /// The sender the socket is connected to; nil until the first frame, and after the
    /// connection broke. Only then is each datagram read with its sender's address.
    private var peer: UnixSocketAddress?
    private var interest: DataSocketInterest
    private var reader: DatagramReader
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    /// Datagrams dropped because their sender had no path to answer to.
    public private(set) var unnamedSenders: UInt64 = 0

    /// Binds `path` (created like the console's socket: through its directory, born with
    /// `mode` and given `group` before it gets its name, a stale socket replaced, a live one
    /// refused).
    public init(path: String, mode: UInt32, group: UInt32? = nil, port: Int, engine: SwitchEngine, logger: Logger) throws(ServerSocketError) {
        guard UnixSocketAddress(path: path) != nil, UnixSocketAddress(path: path + "~") != nil else { throw .pathTooLong(path + "~") }
        self.path = path
        self.port = port
        self.engine = engine
        name = FileSystem.split(path).name
        warnings = ThrottledLogger(logger: logger) { [unowned loop = engine.loop] in loop.now }
        let parent = try ConsoleServer.openParent(of: path)
        let socket: Descriptor
        do {
            socket = try UnixSocket.makeDatagram()
        } catch {
            throw .system(error)
        }
        let stagingName = name + "~"
        parent.remove(stagingName)
        do {
            try parent.bind(socket.rawValue, name: stagingName, mode: mode)
            if let group { try parent.changeOwnerOfSocket(named: stagingName, owner: nil, group: group) }
        } catch {
            parent.remove(stagingName)
            throw .system(error)
        }
        if parent.status(of: name)?.kind == .socket, Self.isBound(in: parent, name: name) {
            parent.remove(stagingName)
            throw .inUse(path)
        }
        do {
            try parent.rename(stagingName, over: name)
        } catch {
            parent.remove(stagingName)
            throw .system(error)
        }
        UnixSocket.setSendBufferSize(socket.rawValue, bytes: 256 << 10)
        UnixSocket.setReceiveBufferSize(socket.rawValue, bytes: 256 << 10)
        descriptor = socket.rawValue
        endpointID = Int(socket.rawValue)
        self.socket = consume socket
        directory = consume parent
        receiveBuffer = .allocate(byteCount: engine.maxFrameSize + 1, alignment: 16)
        interest = DataSocketInterest(descriptor: descriptor, loop: engine.loop)
        reader = DatagramReader(descriptor: descriptor)
        egress = QueuedEgress(transport: DatagramTransport(descriptor: descriptor), port: port, engine: engine) { [unowned self] wanted in
            interest.setWritable(wanted)
        }
        egress.sendFailed = { [unowned self] error in
            // ECONNREFUSED: the peer's socket is gone and the kernel has dropped the
            // connection; the next sender is learned afresh.
            if error.isPeerGone { peer = nil }
        }
    }

    deinit {
        receiveBuffer.deallocate()
    }

    /// Does a datagram socket answer at `name`? (A stale one refuses the connection.)
    private static func isBound(in directory: borrowing DirectoryHandle, name: String) -> Bool {
        guard let probe = try? UnixSocket.makeDatagram() else { return false }
        return (try? directory.connect(probe.rawValue, toSocketNamed: name)) != nil
    }

    public func activate() throws(LoopRegistrationError) {
        try engine.loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
            if readiness.contains(.writable) { self.egress.handleWritable() }
            if readiness.contains(.readable) { self.receive() }
        })
    }

    private func receive() {
        // A bounded number per wake-up so one busy sender cannot starve the others.
        for _ in 0..<64 {
            guard interest.isOpen, interest.isReceiving else { return }
            // Connected, the kernel delivers only the peer's datagrams: the engine reads them
            // in batches (`recvmmsg`), like a VDE client's, without looking at the sender.
            if peer != nil {
                reader.drain(into: engine, port: port)
                return
            }
            let result: IOResult<(count: Int, sender: UnixSocketAddress?)>
            do {
                result = try UnixSocket.receive(descriptor, into: receiveBuffer)
            } catch {
                warnings.warning("dgram-receive", "dgram receive failed", metadata: ["path": "\(path)", "error": "\(error)"])
                return
            }
            guard case .processed(let (count, sender)) = result else { return }
            guard let sender else {
                unnamedSenders &+= 1
                engine.recordDrop(port: port, reason: .malformed)
                warnings.warning("dgram-unnamed", "dgram frame from an unbound socket dropped: no address to answer", metadata: ["path": "\(path)"])
                continue
            }
            guard learn(sender) else { continue }
            // MSG_TRUNC reports the real length: one byte over the frame size marks it oversize.
            engine.receive(UnsafeRawBufferPointer(rebasing: receiveBuffer[..<min(count, receiveBuffer.count)]), from: port)
        }
    }

    /// Connects to a new sender: replies go there from now on.
    private func learn(_ sender: UnixSocketAddress) -> Bool {
        do {
            try UnixSocket.connect(descriptor, to: sender)
        } catch {
            engine.recordDrop(port: port, reason: .sendFailed)
            warnings.warning("dgram-connect", "cannot answer the dgram sender", metadata: ["path": "\(path)", "sender": "\(sender)", "error": "\(error)"])
            return false
        }
        peer = sender
        engine.logger.info("dgram peer", metadata: ["port": "\(port)", "path": "\(path)", "sender": "\(sender)"])
        return true
    }

    public func stage(_ frame: UnsafeRawBufferPointer) {
        guard peer != nil else {
            engine.recordDrop(port: port, reason: .sendFailed)
            return
        }
        egress.stage(frame)
    }

    public func flush() {
        egress.flush()
    }

    public var isBackedUp: Bool { egress.isBackedUp }

    public func pauseReceiving() -> Bool {
        interest.pause()
    }

    public func resumeReceiving() {
        interest.resume()
    }

    public func close() {
        guard socket != nil else { return }
        interest.close()
        socket = nil
        directory?.remove(name)
        directory = nil
    }

    /// Writes the counts of warnings the throttle dropped; the owner calls it every second.
    public func reportSuppressedWarnings() {
        warnings.reportSuppressed()
    }
}
