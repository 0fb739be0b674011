import Glibc

/// The one wrapper every system call goes through: retries `EINTR`, reports `EAGAIN` as
/// `.wouldBlock` (not an error), traps on `EBADF`/`EFAULT` (our bug, never the peer's),
/// throws the rest with the operation's name.
@inline(__always)
public func syscall<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ body: () -> T
) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result != -1 { return .processed(result) }
        let error = Glibc.errno
        switch error {
        case EINTR: continue
        case EAGAIN: return .wouldBlock
        case EBADF, EFAULT: preconditionFailure("\(operation()): \(String(cString: strerror(error)))")
        default: throw SystemError(errno: error, operation: operation())
        }
    }
}

/// For calls that never "would block" (setup, bookkeeping).
@inline(__always)
@discardableResult
public func checkedSyscall<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ body: () -> T
) throws(SystemError) -> T {
    switch try syscall(operation(), body) {
    case .processed(let value): return value
    case .wouldBlock: throw SystemError(errno: EAGAIN, operation: operation())
    }
}
