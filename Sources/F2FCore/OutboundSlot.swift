/// A peer's single outbound packet: loaded by one producer, its header and payload side by
/// side in one buffer, so that the connection takes the whole packet in one write (a datagram
/// path seals it from there, without gathering it first), resumable at any byte after a
/// partial write.
public final class OutboundSlot {
    /// The header's bytes, then the payload's.
    private let storage: UnsafeMutableRawBufferPointer
    private let payload: UnsafeMutableRawBufferPointer
    private var payloadCount = 0
    /// Bytes of header + payload already taken by the connection.
    private var written = 0
    public private(set) var isLoaded = false
    public private(set) var type = F2FPacketType(rawValue: 0)

    public init() {
        storage = .allocate(byteCount: F2FPacketHeader.encodedCount + F2FPacketHeader.maximumPayloadCount, alignment: 16)
        payload = UnsafeMutableRawBufferPointer(rebasing: storage[F2FPacketHeader.encodedCount...])
    }

    deinit {
        storage.deallocate()
    }

    public var isFree: Bool { !isLoaded }

    /// Loads a packet whose payload `fill` writes into the slot's buffer and returns its length.
    public func load(_ type: F2FPacketType, fill: (UnsafeMutableRawBufferPointer) -> Int) {
        precondition(!isLoaded, "outbound slot is busy")
        let count = fill(payload)
        precondition((0...F2FPacketHeader.maximumPayloadCount).contains(count), "payload too large")
        self.type = type
        F2FPacketHeader(type: type, payloadCount: count).write(to: storage)
        payloadCount = count
        written = 0
        isLoaded = true
    }

    public func load(_ type: F2FPacketType, payload source: UnsafeRawBufferPointer) {
        precondition(source.count <= F2FPacketHeader.maximumPayloadCount, "payload too large")
        load(type) { buffer in
            if let base = source.baseAddress, !source.isEmpty {
                buffer.baseAddress!.copyMemory(from: base, byteCount: source.count)
            }
            return source.count
        }
    }

    public var totalCount: Int { F2FPacketHeader.encodedCount + payloadCount }

    /// Writes what the connection takes; true once the whole packet is out (the slot is free).
    public func write(to connection: any Connection) throws(ConnectionError) -> Bool {
        precondition(isLoaded, "nothing to write")
        while written < totalCount {
            let taken = try connection.write(UnsafeRawBufferPointer(rebasing: storage[written..<totalCount]))
            if taken == 0 { return false }
            written += taken
        }
        isLoaded = false
        return true
    }
}
