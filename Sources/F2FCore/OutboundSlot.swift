/// A peer's single outbound packet: loaded by one producer, written header first and then the
/// payload in place (no joined copy), resumable at any byte after a partial write.
public final class OutboundSlot {
    /// The encoded header; its capacity is reserved once, so loading allocates nothing.
    private var header: [UInt8] = []
    private let storage: UnsafeMutableRawBufferPointer
    private var payloadCount = 0
    /// Bytes of header + payload already taken by the connection.
    private var written = 0
    public private(set) var isLoaded = false
    public private(set) var type = F2FPacketType(rawValue: 0)

    public init() {
        storage = .allocate(byteCount: F2FPacketHeader.maximumPayloadCount, alignment: 16)
        header.reserveCapacity(F2FPacketHeader.encodedCount)
    }

    deinit {
        storage.deallocate()
    }

    public var isFree: Bool { !isLoaded }

    /// Loads a packet whose payload `fill` writes into the slot's buffer and returns its length.
    public func load(_ type: F2FPacketType, fill: (UnsafeMutableRawBufferPointer) -> Int) {
        precondition(!isLoaded, "outbound slot is busy")
        let count = fill(storage)
        precondition((0...F2FPacketHeader.maximumPayloadCount).contains(count), "payload too large")
        self.type = type
        header.removeAll(keepingCapacity: true)
        F2FPacketHeader(type: type, payloadCount: count).encode(into: &header)
        payloadCount = count
        written = 0
        isLoaded = true
    }

    public func load(_ type: F2FPacketType, payload: UnsafeRawBufferPointer) {
        precondition(payload.count <= F2FPacketHeader.maximumPayloadCount, "payload too large")
        load(type) { buffer in
            if let base = payload.baseAddress, !payload.isEmpty {
                buffer.baseAddress!.copyMemory(from: base, byteCount: payload.count)
            }
            return payload.count
        }
    }

    public var totalCount: Int { F2FPacketHeader.encodedCount + payloadCount }

    /// Writes what the connection takes; true once the whole packet is out (the slot is free).
    public func write(to connection: any Connection) throws(ConnectionError) -> Bool {
        precondition(isLoaded, "nothing to write")
        while written < F2FPacketHeader.encodedCount {
            let taken = try header.withUnsafeBytes { raw in
                Result { () throws(ConnectionError) in try connection.write(UnsafeRawBufferPointer(rebasing: raw[written...])) }
            }.get()
            if taken == 0 { return false }
            written += taken
        }
        while written < totalCount {
            let offset = written - F2FPacketHeader.encodedCount
            let taken = try connection.write(UnsafeRawBufferPointer(rebasing: storage[offset..<payloadCount]))
            if taken == 0 { return false }
            written += taken
        }
        isLoaded = false
        return true
    }
}
