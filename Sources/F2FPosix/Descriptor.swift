import Glibc

/// The single owner of an open file descriptor; closing happens exactly once, on consume or deinit.
public struct Descriptor: ~Copyable {
    public let rawValue: Int32

    public init(taking rawValue: Int32) {
        precondition(rawValue >= 0, "invalid descriptor \(rawValue)")
        self.rawValue = rawValue
    }

    public consuming func close() {
        // deinit does the work.
    }

    /// Gives up ownership without closing (the fd now belongs to someone else, e.g. a C library).
    public consuming func release() -> Int32 {
        let raw = rawValue
        discard self
        return raw
    }

    deinit {
        Glibc.close(rawValue)
    }
}
