/// Why untrusted bytes were refused. Carries enough context to log and count.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the format needs.
    case truncated(needed: Int, available: Int)
    /// More bytes than the format allows.
    case oversized(limit: Int, actual: Int)
    /// A field holds a value the format does not allow.
    case invalidField(name: String, value: UInt64)

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            "truncated: needed \(needed) bytes, got \(available)"
        case .oversized(let limit, let actual):
            "oversized: \(actual) bytes, limit \(limit)"
        case .invalidField(let name, let value):
            "invalid \(name) 0x\(String(value, radix: 16))"
        }
    }
}
