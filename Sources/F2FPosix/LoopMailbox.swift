import Synchronization

/// The only way into the loop from another thread: a locked list of closures plus an
/// eventfd that wakes `epoll_wait`. One of the project's two audited `@unchecked Sendable`s
/// (the other is `BackgroundWriterState`): the list is behind the mutex, the rest immutable.
public final class LoopMailbox: @unchecked Sendable {
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private let wake: EventCounter
    var wakeDescriptor: Int32 { wake.descriptor }

    init() throws(SystemError) {
        wake = try EventCounter()
    }

    /// Runs `work` on the loop thread soon. Safe from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(work) }
        wake.signal()
    }

    func drain() -> [@Sendable () -> Void] {
        wake.drain()
        return pending.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
    }
}
