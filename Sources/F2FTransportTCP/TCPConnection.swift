import F2FCore
import F2FPosix
import Glibc

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
    private var descriptor: Int32
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
    static let directReadCount = 32 * 1024
    /// About eight full-size frames.
    static let denseReadCount = 12 * 1024

    private init(descriptor: Int32, remote: String, sourcePrefix: String? = nil, connecting: Bool, loop: any EventLoop) {
        self.descriptor = descriptor
        self.remoteDescription = remote
        self.sourcePrefix = sourcePrefix
        self.isConnecting = connecting
        self.loop = loop
        input = .allocate(byteCount: Self.bufferSize, alignment: 16)
        output = .allocate(byteCount: Self.bufferSize, alignment: 16)
        var one: Int32 = 1
        // Nagle would hold small frames back by up to 40 ms.
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close()
        input.deallocate()
        output.deallocate()
    }

    /// Starts a non-blocking connect; `connectionEstablished` or `connectionClosed` follows.
    public static func connect(to address: TCPAddress, loop: any EventLoop) throws(ConnectionError) -> TCPConnection {
        var lastError = ConnectionError.system(errno: EHOSTUNREACH, operation: "connect \(address)")
        for socketAddress in try address.resolve(passive: false) {
            let family = socketAddress.withUnsafeBytes { $0.load(as: sa_family_t.self) }
            let fd = socket(Int32(family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            let status = socketAddress.withUnsafeBytes { raw in
                Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
            if status == 0 || errno == EINPROGRESS {
                let connection = TCPConnection(descriptor: fd, remote: address.description, connecting: true, loop: loop)
                try connection.register(.writable)
                return connection
            }
            lastError = ConnectionError.system(errno: errno, operation: "connect \(address)")
            Glibc.close(fd)
        }
        throw lastError
    }

    /// Wraps an accepted socket; it is connected already.
    static func accepted(descriptor: Int32, remote: String, sourcePrefix: String, loop: any EventLoop) throws(ConnectionError) -> TCPConnection {
        let connection = TCPConnection(descriptor: descriptor, remote: remote, sourcePrefix: sourcePrefix, connecting: false, loop: loop)
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
            let count = recv(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 { return .endOfStream }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { return .wouldBlock }
                throw ConnectionError.system(errno: errno, operation: "recv from \(remoteDescription)")
            }
            noteDensity(of: count, room: buffer.count)
            return .bytes(count)
        }
        if inputStart == inputEnd {
            inputStart = 0
            inputEnd = 0
            let count = recv(descriptor, input.baseAddress, input.count, Int32(MSG_DONTWAIT))
            if count == 0 { return .endOfStream }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { return .wouldBlock }
                throw ConnectionError.system(errno: errno, operation: "recv from \(remoteDescription)")
            }
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
        Glibc.close(descriptor)
        descriptor = -1
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
        let canWrite = readiness.contains(.writable) && outputEnd < output.count
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
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else {
            fail(ConnectionError.system(errno: error, operation: "connect \(remoteDescription)"))
            return
        }
        isConnecting = false
        updateRegistration()
        events?.connectionEstablished(self)
    }

    private func send() throws(ConnectionError) {
        while outputStart < outputEnd {
            let count = Glibc.send(descriptor, output.baseAddress! + outputStart, outputEnd - outputStart, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if count < 0 {
                if errno == EAGAIN {
                    sendBlocked = true
                    return
                }
                if errno == EINTR { continue }
                throw ConnectionError.system(errno: errno, operation: "send to \(remoteDescription)")
            }
            outputStart += count
        }
        outputStart = 0
        outputEnd = 0
        sendBlocked = false
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
