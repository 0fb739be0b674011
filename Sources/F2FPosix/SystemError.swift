import F2FCore
import Glibc

/// A failed system call: the errno and what we were doing.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

extension SystemError {
    /// The loop protocol's registration failure is the same errno and operation.
    public init(_ error: LoopRegistrationError) {
        self.init(errno: error.errno, operation: error.operation)
    }
}

/// The result of a non-blocking operation: done, or try again when the descriptor is ready.
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

extension IOResult: Equatable where Value: Equatable {}
extension IOResult: Sendable where Value: Sendable {}

/// The errno values code outside F2FPosix names, so that it needs no libc import (after
/// swift-system's `Errno` constants). Add one here rather than importing Glibc elsewhere.
public enum Errno {
    public static let badDescriptor: Int32 = EBADF
    public static let wouldBlock: Int32 = EAGAIN
    public static let noSuchFile: Int32 = ENOENT
    public static let fileExists: Int32 = EEXIST
    public static let connectionReset: Int32 = ECONNRESET
    public static let hostUnreachable: Int32 = EHOSTUNREACH
}
