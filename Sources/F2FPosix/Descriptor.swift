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

    deinit {
        Glibc.close(rawValue)
    }
}
