import F2FCore
import F2FPosix
import Synchronization

/// Runs one blocking job at a time (miniupnpc's SSDP discovery and SOAP requests, which wait on
/// the network for seconds) on a thread of its own, and hands the result back to the loop: the
/// thread leaves it in a `ResultSlot` and wakes the loop through the slot's eventfd, which the
/// loop watches. So a router that answers slowly, or not at all, never stalls forwarding.
final class BlockingWorker<Result: Sendable> {
    private let loop: any EventLoop
    private let slot: ResultSlot<Result>
    private var completion: ((Result) -> Void)?
    private var registered = false

    /// A job is running (its completion not yet called).
    var isBusy: Bool { completion != nil }

    init(loop: any EventLoop) throws(SystemError) {
        self.loop = loop
        slot = try ResultSlot()
    }

    /// Starts `job` on a new thread; `completion` runs on the loop with its result.
    func run(_ job: @escaping @Sendable () -> Result, then completion: @escaping (Result) -> Void) throws(SystemError) {
        precondition(self.completion == nil, "one job at a time")
        if !registered {
            do {
                try loop.register(slot.wake.descriptor, interest: .readable, handler: IOClosure { [weak self] _ in self?.deliver() })
            } catch {
                throw SystemError(error)
            }
            registered = true
        }
        self.completion = completion
        let slot = slot
        do {
            try PosixThread.start { slot.put(job()) }.detach()
        } catch {
            self.completion = nil
            throw error
        }
    }

    /// At exit only, when the loop no longer runs: waits up to `timeout` for the running job
    /// and calls its completion. False when it did not finish in time.
    func finish(timeout: Duration) -> Bool {
        guard completion != nil else { return true }
        guard slot.wake.waitForSignal(timeout: timeout) else { return false }
        deliver()
        return completion == nil
    }

    func close() {
        if registered { loop.deregister(slot.wake.descriptor) }
        registered = false
        completion = nil
    }

    private func deliver() {
        guard let result = slot.take() else { return }
        let completion = self.completion
        self.completion = nil
        completion?(result)
    }
}

/// Where a worker thread leaves its result: a mutex-guarded value and an eventfd that wakes
/// the loop. The thread keeps the slot alive until it has written, so the descriptor is never
/// closed under it (it is closed when the last of worker and thread lets go).
private final class ResultSlot<Result: Sendable>: Sendable {
    private let value = Mutex<Result?>(nil)
    let wake: EventCounter

    init() throws(SystemError) {
        wake = try EventCounter()
    }

    func put(_ result: Result) {
        value.withLock { $0 = result }
        wake.signal()
    }

    func take() -> Result? {
        wake.drain()
        return value.withLock { slot in
            defer { slot = nil }
            return slot
        }
    }
}
