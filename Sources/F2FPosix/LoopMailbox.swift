import CF2FSystem
import Glibc
import Synchronization

/// The only way into the loop from another thread: a locked list of closures plus an
/// eventfd that wakes `epoll_wait`. One of the project's two audited `@unchecked Sendable`s
/// (the other is `BackgroundWriterState`): `wakeDescriptor` is immutable after init and the
/// list is behind the mutex.
public final class LoopMailbox: @unchecked Sendable {
    private let pending = Mutex<[@Sendable () -> Void]>([])
    let wakeDescriptor: Int32

    init() throws(SystemError) {
        wakeDescriptor = try checkedSyscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }

    deinit {
        close(wakeDescriptor)
    }

    /// Runs `work` on the loop thread soon. Safe from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(work) }
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    func drain() -> [@Sendable () -> Void] {
        var counter: UInt64 = 0
        _ = read(wakeDescriptor, &counter, 8)
        return pending.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
    }
}
