/// What a keepalive packet carries. Empty (as every keepalive before fast dead-link detection
/// was, and as old peers still send and ignore any payload of): only a sign of life. Five bytes
/// (kind, 32-bit big-endian sequence): a *ping* the friend echoes at once, or its *echo*, which
/// gives the stream's round-trip time (`LinkLiveness`). Anything else is read as plain.
enum KeepalivePayload: Equatable {
    case plain
    case ping(UInt32)
    case echo(UInt32)

    private enum Kind {
        static let ping: UInt8 = 1
        static let echo: UInt8 = 2
    }

    static let encodedCount = 5

    init(parsing payload: UnsafeRawBufferPointer) {
        guard payload.count == Self.encodedCount else {
            self = .plain
            return
        }
        let sequence = UInt32(payload[1]) << 24 | UInt32(payload[2]) << 16 | UInt32(payload[3]) << 8 | UInt32(payload[4])
        switch payload[0] {
        case Kind.ping: self = .ping(sequence)
        case Kind.echo: self = .echo(sequence)
        default: self = .plain
        }
    }

    /// Writes the payload into a packet slot's buffer; returns its length.
    func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let kind: UInt8
        let sequence: UInt32
        switch self {
        case .plain: return 0
        case .ping(let value): (kind, sequence) = (Kind.ping, value)
        case .echo(let value): (kind, sequence) = (Kind.echo, value)
        }
        buffer[0] = kind
        buffer[1] = UInt8(truncatingIfNeeded: sequence >> 24)
        buffer[2] = UInt8(truncatingIfNeeded: sequence >> 16)
        buffer[3] = UInt8(truncatingIfNeeded: sequence >> 8)
        buffer[4] = UInt8(truncatingIfNeeded: sequence)
        return Self.encodedCount
    }
}
