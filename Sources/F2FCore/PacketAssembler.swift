/// Reassembles F2F packets from a byte stream: the 3-byte header into its own small buffer,
/// then exactly the announced payload into a preallocated buffer. Survives any split of the
/// stream; the payload is lent out until `release()`.
public final class PacketAssembler {
    public enum Progress: Equatable {
        /// Nothing complete yet; wait for readability.
        case needMore
        /// A packet is ready in `payload`; call `release()` when done with it.
        case packet(F2FPacketType)
        /// The other side closed the stream (mid-packet or between packets).
        case endOfStream(midPacket: Bool)
        /// The header announced a packet that `admits` refused; its payload was not read.
        case rejectedHeader(F2FPacketType, payloadCount: Int)
    }

    /// Checked as soon as a header is complete, before any payload is read, so that a
    /// stranger's garbage is refused at its first three bytes (e.g. during the handshake).
    public var admits: ((F2FPacketType, Int) -> Bool)?

    /// The header bytes as they arrive (allocated once).
    private var header = [UInt8](repeating: 0, count: F2FPacketHeader.encodedCount)
    private var headerFilled = 0
    private let storage: UnsafeMutableRawBufferPointer
    private var expected = 0
    private var filled = 0
    public private(set) var hasPacket = false
    private var type = F2FPacketType(rawValue: 0)

    public init() {
        storage = .allocate(byteCount: F2FPacketHeader.maximumPayloadCount, alignment: 16)
    }

    deinit {
        storage.deallocate()
    }

    /// The payload of the completed packet.
    public var payload: UnsafeRawBufferPointer {
        precondition(hasPacket, "no packet assembled")
        return UnsafeRawBufferPointer(rebasing: storage[..<expected])
    }

    /// Lends the payload as a `Span` for the duration of `body`.
    public func withPayloadSpan<R>(_ body: (Span<UInt8>) throws(HelloError) -> R) throws(HelloError) -> R {
        try body(payload.bindMemory(to: UInt8.self).span)
    }

    /// Reads until a packet is complete or the connection has no more bytes.
    public func read(from connection: any Connection) throws(ConnectionError) -> Progress {
        precondition(!hasPacket, "release the previous packet first")
        while headerFilled < F2FPacketHeader.encodedCount {
            let result = try header.withUnsafeMutableBytes { raw in
                Result { () throws(ConnectionError) in try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[headerFilled...])) }
            }.get()
            switch result {
            case .bytes(let count): headerFilled += count
            case .wouldBlock: return .needMore
            case .endOfStream: return .endOfStream(midPacket: headerFilled > 0)
            }
            if headerFilled == F2FPacketHeader.encodedCount {
                let parsed: F2FPacketHeader
                // The span is taken of a local: with run-time exclusivity checks compiled out
                // (release builds), the lifetime checker refuses one of the stored array.
                let whole = header
                do {
                    parsed = try F2FPacketHeader(parsing: whole.span)
                } catch {
                    preconditionFailure("a whole header did not parse: \(error)")
                }
                type = parsed.type
                expected = parsed.payloadCount
                filled = 0
                if let admits, !admits(type, expected) {
                    return .rejectedHeader(type, payloadCount: expected)
                }
            }
        }
        while filled < expected {
            switch try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[filled..<expected])) {
            case .bytes(let count): filled += count
            case .wouldBlock: return .needMore
            case .endOfStream: return .endOfStream(midPacket: true)
            }
        }
        hasPacket = true
        return .packet(type)
    }

    /// The packet has been consumed; the next read starts a new header.
    public func release() {
        hasPacket = false
        headerFilled = 0
        expected = 0
        filled = 0
    }
}
