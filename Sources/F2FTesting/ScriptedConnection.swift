import F2FCore

/// An in-memory `Connection` whose reads follow a script and whose writes are recorded: the
/// test decides how the stream is split, where it stalls, ends or fails, and how many bytes
/// each write may take. No threads, no clock; notifications go out only when the test sends them.
///
/// ```swift
/// let connection = ScriptedConnection(chunkSize: 3, pauseBetweenChunks: true)
/// connection.feedPacket(.ethernetFrame, payload: frame)
/// connection.endStream()
/// connection.writeCapacity = 1          // one byte per write call; 0 means EAGAIN
/// ```
public final class ScriptedConnection: Connection {
    /// One entry of the read script.
    public enum ReadStep: Equatable {
        case bytes(ArraySlice<UInt8>)
        case wouldBlock
        case endOfStream
        case failure(ConnectionError)
    }

    public weak var events: (any ConnectionEvents)?
    public let remoteDescription: String

    /// `feed` splits its bytes into chunks of this size; a read never crosses a chunk.
    public var chunkSize: Int
    /// `feed` adds a `.wouldBlock` after every chunk, so each read stops there.
    public var pauseBetweenChunks: Bool

    private var script: [ReadStep] = []
    private var head = 0
    /// Once reached, `.endOfStream` or a failure is returned by every later read too.
    private var terminal: ReadStep?

    /// Bytes each write call may take, used in turn and cycled; empty means unlimited.
    public var writeCapacities: [Int] = []
    private var writeCapacityIndex = 0
    /// Thrown by the next write, if set.
    public var writeFailure: ConnectionError?

    /// Every byte the connection took, in order.
    public private(set) var written: [UInt8] = []
    /// The count each write call took (0 for a refused write).
    public private(set) var writeCalls: [Int] = []
    public private(set) var readCalls = 0
    /// Bytes handed out by reads so far.
    public private(set) var bytesRead = 0
    /// Every `reconfigure` in order.
    public private(set) var interests: [CommInterest] = []
    public private(set) var flushCount = 0
    public private(set) var closeCount = 0
    /// I/O attempted after `close()`: a contract violation by the core.
    public private(set) var callsAfterClose = 0

    public init(remoteDescription: String = "scripted", chunkSize: Int = Int.max, pauseBetweenChunks: Bool = false) {
        precondition(chunkSize > 0, "chunk size must be positive")
        self.remoteDescription = remoteDescription
        self.chunkSize = chunkSize
        self.pauseBetweenChunks = pauseBetweenChunks
    }

    // MARK: Script

    /// Appends bytes to the inbound stream, split per `chunkSize` and `pauseBetweenChunks`.
    public func feed(_ bytes: [UInt8]) {
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes.index(start, offsetBy: min(chunkSize, bytes.endIndex - start))
            script.append(.bytes(bytes[start..<end]))
            if pauseBetweenChunks { script.append(.wouldBlock) }
            start = end
        }
    }

    /// Appends one framed packet (header and payload) to the inbound stream.
    public func feedPacket(_ type: F2FPacketType, payload: [UInt8] = []) {
        feed(PacketBytes.packet(type, payload: payload))
    }

    /// The next read returns `.wouldBlock`.
    public func pause() {
        script.append(.wouldBlock)
    }

    /// Reads return `.endOfStream` once the bytes before this point are consumed.
    public func endStream() {
        script.append(.endOfStream)
    }

    /// Reads throw `error` once the bytes before this point are consumed.
    public func failReads(with error: ConnectionError) {
        script.append(.failure(error))
    }

    /// Script entries not consumed yet (bytes, pauses, end).
    public var pendingReadSteps: Int {
        script.count - head
    }

    /// True while a read would return bytes, end of stream or an error (not `.wouldBlock`).
    public var hasReadableInput: Bool {
        if terminal != nil { return true }
        guard head < script.count else { return false }
        if case .wouldBlock = script[head] { return false }
        return true
    }

    /// The interest of the last `reconfigure`, or none.
    public var interest: CommInterest {
        interests.last ?? []
    }

    public var isClosed: Bool {
        closeCount > 0
    }

    // MARK: Notifications (what a provider would send)

    public func signalReady(readable: Bool = true, writable: Bool = false) {
        events?.connectionIsReady(self, readable: readable, writable: writable)
    }

    public func signalEstablished() {
        events?.connectionEstablished(self)
    }

    public func signalClosed(error: ConnectionError? = nil) {
        events?.connectionClosed(self, error: error)
    }

    /// Sends the readiness the owner asked for until the script stalls (a pause or its end),
    /// writes are refused or the connection closes. Returns the notifications sent.
    @discardableResult
    public func deliver(limit: Int = 1_000_000) -> Int {
        var sent = 0
        while !isClosed, events != nil, sent < limit {
            let readable = interest.contains(.readable) && hasReadableInput
            let writable = interest.contains(.writable) && nextWriteCapacity > 0
            guard readable || writable else { break }
            sent += 1
            signalReady(readable: readable, writable: writable)
        }
        return sent
    }

    // MARK: Connection

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        readCalls += 1
        if isClosed { callsAfterClose += 1 }
        if let terminal { return try finish(terminal) }
        guard head < script.count else { return .wouldBlock }
        switch script[head] {
        case .wouldBlock:
            head += 1
            return .wouldBlock
        case .endOfStream, .failure:
            let step = script[head]
            head += 1
            terminal = step
            return try finish(step)
        case .bytes(let chunk):
            let count = min(buffer.count, chunk.count)
            chunk.prefix(count).withUnsafeBytes { source in
                if count > 0 { buffer.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: count) }
            }
            bytesRead += count
            if count == chunk.count {
                head += 1
            } else {
                script[head] = .bytes(chunk.dropFirst(count))
            }
            return .bytes(count)
        }
    }

    private func finish(_ step: ReadStep) throws(ConnectionError) -> CommReadResult {
        if case .failure(let error) = step { throw error }
        return .endOfStream
    }

    /// What the next write call may take.
    public var nextWriteCapacity: Int {
        writeCapacities.isEmpty ? Int.max : writeCapacities[writeCapacityIndex % writeCapacities.count]
    }

    /// Sets one capacity for every write call (nil: unlimited).
    public var writeCapacity: Int? {
        get { writeCapacities.count == 1 ? writeCapacities[0] : nil }
        set {
            writeCapacities = newValue.map { [$0] } ?? []
            writeCapacityIndex = 0
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int {
        if isClosed { callsAfterClose += 1 }
        if let error = writeFailure {
            writeFailure = nil
            throw error
        }
        let count = min(bytes.count, nextWriteCapacity)
        if !writeCapacities.isEmpty { writeCapacityIndex += 1 }
        written.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<count]))
        writeCalls.append(count)
        return count
    }

    public func flush() {
        if isClosed { callsAfterClose += 1 }
        flushCount += 1
    }

    public func reconfigure(_ interest: CommInterest) {
        if isClosed { callsAfterClose += 1 }
        interests.append(interest)
    }

    public func close() {
        closeCount += 1
    }
}
