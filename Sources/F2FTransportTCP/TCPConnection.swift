import F2FCore
import F2FPosix

/// The TCP reference provider of `Connection`, on the event loop. Reads are served from a
/// read-ahead buffer and writes coalesce until `flush()`, so a burst of small packets costs
/// one system call each way instead of one per header and payload.
public final class TCPConnection: Connection, IOHandler {
    public weak var events: (any ConnectionEvents)?
    public let remoteDescription: String
    /// For an accepted connection, the part of the remote address one host controls (an IPv4
    /// address, an IPv6 /64): the unit of the listener's per-source limits.
    public let sourcePrefix: String?
    private let loop: any EventLoop
    private let descriptor: Int32
    /// The socket's owner; dropping it closes the socket.
    private var socket: Descriptor?
    private var isConnecting: Bool
    private var isClosed = false
    private var interest: CommInterest = []
    private var registeredInterest: IOInterest = .none
    private let input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private let output: UnsafeMutableRawBufferPointer
    private var outputStart = 0
    private var outputEnd = 0
    /// The kernel refused part of the output (EAGAIN): wait for writability to send the rest.
    /// Output merely waiting for `flush()` needs no event, so a batch costs no epoll_ctl calls.
    private var sendBlocked = false
    private var readabilityPosted = false

    static let bufferSize = 256 * 1024
    /// What the kernel may hold unsent (`TCP_NOTSENT_LOWAT`), and what may wait here beyond it
    /// while the kernel takes nothing. Every byte queued in either waits in front of every later
    /// frame, a ping's included: 32 KiB is 13 ms on a 20 Mbit/s path, 1 ms at 250 Mbit/s. The
    /// switch's own queue in front of the link (CoDel, `PeerLink`) is where a backlog belongs.
    static let kernelUnsentLimit = 32 * 1024
    static let pendingLimit = 32 * 1024
    static let directReadCount = 32 * 1024
    /// About eight full-size frames.
    static let denseReadCount = 12 * 1024

    private init(socket: consuming Descriptor, remote: String, sourcePrefix: String? = nil, connecting: Bool, loop: any EventLoop) {
        descriptor = socket.rawValue
        self.socket = consume socket
        self.remoteDescription = remote
        self.sourcePrefix = sourcePrefix
        self.isConnecting = connecting
        self.loop = loop
        input = .allocate(byteCount: Self.bufferSize, alignment: 16)
        output = .allocate(byteCount: Self.bufferSize, alignment: 16)
        // Nagle would hold small frames back by up to 40 ms.
        InetStreamSocket.setNoDelay(descriptor)
        InetStreamSocket.setNotSentLowWater(descriptor, bytes: Self.kernelUnsentLimit)
    }

    deinit {
        close()
        input.deallocate()
        output.deallocate()
    }

    /// Starts a non-blocking connect; `connectionEstablished` or `connectionClosed` follows.
    public static func connect(to address: TCPAddress, loop: any EventLoop) throws(ConnectionError) -> TCPConnection {
        var lastError = ConnectionError.system(errno: Errno.hostUnreachable, operation: "connect \(address)")
        for socketAddress in try address.resolve(passive: false) {
            let socket: Descriptor
            do {
                socket = try InetStreamSocket.connect(to: socketAddress)
            } catch {
                lastError = ConnectionError.system(errno: error.errno, operation: "connect \(address)")
                continue
            }
            let connection = TCPConnection(socket: socket, remote: address.description, connecting: true, loop: loop)
            try connection.register(.writable)
            return connection
        }
        throw lastError
    }

    /// Wraps an accepted socket; it is connected already.
    static func accepted(socket: consuming Descriptor, remote: String, sourcePrefix: String, loop: any EventLoop) throws(ConnectionError) -> TCPConnection {
        let connection = TCPConnection(socket: socket, remote: remote, sourcePrefix: sourcePrefix, connecting: false, loop: loop)
        try connection.register(.none)
        return connection
    }

    private func register(_ initial: IOInterest) throws(ConnectionError) {
        do {
            try loop.register(descriptor, interest: initial, handler: self)
            registeredInterest = initial
        } catch {
            throw ConnectionError.system(errno: error.errno, operation: error.operation)
        }
    }

    // MARK: Connection

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        guard !isClosed else { throw ConnectionError.alreadyClosed(operation: "read") }
        if inputStart == inputEnd, buffer.count >= Self.directReadCount {
            // A reader with room for a bulk read (the encrypted layer's record buffer) gets the
            // bytes straight from the socket: one copy less.
            guard case .processed(let count) = try receive(into: buffer) else { return .wouldBlock }
            if count == 0 { return .endOfStream }
            noteDensity(of: count, room: buffer.count)
            return .bytes(count)
        }
        if inputStart == inputEnd {
            inputStart = 0
            inputEnd = 0
            guard case .processed(let count) = try receive(into: input) else { return .wouldBlock }
            if count == 0 { return .endOfStream }
            inputEnd = count
            noteDensity(of: count, room: input.count)
        }
        let count = min(buffer.count, inputEnd - inputStart)
        buffer.baseAddress!.copyMemory(from: input.baseAddress! + inputStart, byteCount: count)
        inputStart += count
        return .bytes(count)
    }

    /// A read that emptied the socket yet brought many bytes: a dense stream the loop keeps up
    /// with, so it may let more gather before its next look (`EventLoop.noteDenseInput`).
    private func noteDensity(of count: Int, room: Int) {
        if count >= Self.denseReadCount, count < room { loop.noteDenseInput() }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int {
        guard !isClosed else { throw ConnectionError.alreadyClosed(operation: "write") }
        guard !isConnecting else { return 0 }
        if outputEnd - outputStart >= Self.pendingLimit {
            // Enough waits already: what the kernel does not take now stays with the writer.
            try send()
            if outputEnd - outputStart >= Self.pendingLimit { return 0 }
        }
        if outputEnd == output.count {
            try send()
            if outputStart > 0 { compactOutput() }
        }
        let count = min(bytes.count, output.count - outputEnd)
        if count > 0 {
            (output.baseAddress! + outputEnd).copyMemory(from: bytes.baseAddress!, byteCount: count)
            outputEnd += count
        }
        return count
    }

    public func flush() {
        guard !isClosed, !isConnecting else { return }
        do {
            try send()
        } catch {
            fail(error)
            return
        }
        updateRegistration()
    }

    public func reconfigure(_ interest: CommInterest) {
        guard !isClosed else { return }
        self.interest = interest
        updateRegistration()
        // Bytes already read ahead raise no epoll event: announce them ourselves.
        if interest.contains(.readable), inputStart < inputEnd, !readabilityPosted {
            readabilityPosted = true
            loop.schedule(after: .zero) { [weak self] in
                guard let self, !self.isClosed else { return }
                self.readabilityPosted = false
                if self.interest.contains(.readable), self.inputStart < self.inputEnd {
                    self.events?.connectionIsReady(self, readable: true, writable: false)
                }
            }
        }
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(descriptor)
        socket = nil
    }

    // MARK: IOHandler

    public func handle(_ readiness: IOReadiness) {
        if isConnecting {
            finishConnecting()
            return
        }
        if readiness.contains(.writable), outputStart < outputEnd {
            flush()
            guard !isClosed else { return }
        }
        let canWrite = readiness.contains(.writable) && outputEnd - outputStart < Self.pendingLimit
        let wantsRead = interest.contains(.readable) && readiness.contains(.readable)
        let wantsWrite = interest.contains(.writable) && canWrite
        if wantsRead || wantsWrite {
            events?.connectionIsReady(self, readable: wantsRead, writable: wantsWrite)
        } else if readiness.contains(.hangup) {
            // Nobody is reading, but the socket is dead: report it instead of spinning.
            fail(.closedByPeer("connection to \(remoteDescription) hung up"))
        }
    }

    // MARK: Internals

    private func finishConnecting() {
        if let error = InetStreamSocket.connectError(descriptor) {
            fail(ConnectionError.system(errno: error.errno, operation: "connect \(remoteDescription)"))
            return
        }
        isConnecting = false
        updateRegistration()
        events?.connectionEstablished(self)
    }

    private func send() throws(ConnectionError) {
        while outputStart < outputEnd {
            let pending = UnsafeRawBufferPointer(start: output.baseAddress! + outputStart, count: outputEnd - outputStart)
            let result: IOResult<Int>
            do {
                result = try InetStreamSocket.send(descriptor, from: pending)
            } catch {
                throw ConnectionError.system(errno: error.errno, operation: "send to \(remoteDescription)")
            }
            guard case .processed(let count) = result else {
                sendBlocked = true
                return
            }
            outputStart += count
        }
        outputStart = 0
        outputEnd = 0
        sendBlocked = false
    }

    /// One `recv` into `buffer`; its failure in the connection's words.
    private func receive(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> IOResult<Int> {
        do {
            return try InetStreamSocket.receive(descriptor, into: buffer)
        } catch {
            throw ConnectionError.system(errno: error.errno, operation: "recv from \(remoteDescription)")
        }
    }

    private func compactOutput() {
        let pending = outputEnd - outputStart
        output.baseAddress!.copyMemory(from: output.baseAddress! + outputStart, byteCount: pending)
        outputStart = 0
        outputEnd = pending
    }

    private func updateRegistration() {
        guard !isClosed else { return }
        var wanted: IOInterest = []
        if interest.contains(.readable) { wanted.insert(.readable) }
        if interest.contains(.writable) || sendBlocked || isConnecting { wanted.insert(.writable) }
        guard wanted != registeredInterest else { return }
        registeredInterest = wanted
        loop.setInterest(wanted, for: descriptor)
    }

    private func fail(_ error: ConnectionError) {
        guard !isClosed else { return }
        close()
        events?.connectionClosed(self, error: error)
    }
}
