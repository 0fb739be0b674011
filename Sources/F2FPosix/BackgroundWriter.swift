import CF2FSystem
import Glibc
import Synchronization

/// Writes a stream of bytes to a file or socket on a thread of its own, so that the loop
/// thread never pays for the write: copying into a growing file's page cache costs several
/// times what forwarding the frame did (docs/packet-capture.md), and a disk's writeback can
/// make `write` wait.
///
/// The loop fills chunks allocated at the start and hands each over whole; the writer thread
/// writes them in order. A single producer and a single consumer share two counters (chunks
/// handed over, chunks written): no lock, no allocation, and one `eventfd` write per chunk
/// to wake the writer. When every chunk waits for the writer, `nextChunk()` says so and the
/// caller drops what it had to write: the loop never waits for the writer.
public final class BackgroundWriter {
    public static let chunkSize = 256 << 10

    private let shared: BackgroundWriterState
    private var thread: PosixThread?
    /// Chunks handed over so far (the loop's own copy of `shared.handedOver`).
    private var handedOver = 0

    /// Starts the writer thread on `descriptor` (a file, or a non-blocking socket), which it
    /// closes when it is done.
    public init(descriptor: consuming Descriptor, chunkCount: Int) throws(SystemError) {
        let shared = try BackgroundWriterState(descriptor: descriptor, chunkCount: chunkCount)
        self.shared = shared
        thread = try PosixThread.start { shared.run() }
    }

    deinit {
        if thread != nil { finish() }
        thread?.detach()
    }

    /// The chunk to fill next, or nil while every chunk waits for the writer.
    public func nextChunk() -> UnsafeMutableRawBufferPointer? {
        guard handedOver - shared.written.load(ordering: .acquiring) < shared.chunkCount else { return nil }
        return shared.chunk(handedOver)
    }

    /// Hands the chunk `nextChunk()` gave over to the writer with its first `count` bytes.
    public func handOver(count: Int) {
        shared.lengths[handedOver % shared.chunkCount] = count
        handedOver += 1
        shared.handedOver.store(handedOver, ordering: .releasing)
        shared.wake()
    }

    /// The first write that failed; the writer drops what it is handed after it.
    public var failure: SystemError? {
        let code = shared.failedErrno.load(ordering: .acquiring)
        return code == 0 ? nil : SystemError(errno: code, operation: "write")
    }

    /// Everything handed over is written (or dropped after a failure).
    public var isIdle: Bool { shared.written.load(ordering: .acquiring) == handedOver }

    /// After the last `handOver`: the writer writes what it holds (a socket's peer that takes
    /// nothing more is given up on), closes the descriptor and ends.
    public func finish() {
        shared.finishing.store(true, ordering: .releasing)
        shared.wake()
    }

    /// Waits until the writer has written everything handed over (tests; the thread goes on).
    public func waitUntilWritten() {
        var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
        while !isIdle, thread != nil { nanosleep(&pause, nil) }
    }

    /// Ends the writer (`finish()`) and waits for its thread to write what it holds and end:
    /// at shutdown, so that a file is complete when the process exits.
    public func waitUntilFinished() {
        guard let thread else { return }
        finish()
        thread.join()
        self.thread = nil
    }
}

/// What the loop and the writer thread share. `@unchecked Sendable`, audited: the chunk
/// memory and `lengths` entries of a chunk are written by the loop only before it publishes
/// the chunk (`handedOver`, releasing) and read by the writer only after it sees it
/// (acquiring), and the loop reuses a chunk only after the writer has published it written;
/// everything else is immutable or atomic.
final class BackgroundWriterState: @unchecked Sendable {
    let chunkCount: Int
    let lengths: UnsafeMutableBufferPointer<Int>
    let handedOver = Atomic<Int>(0)
    let written = Atomic<Int>(0)
    let finishing = Atomic<Bool>(false)
    let failedErrno = Atomic<Int32>(0)
    private let memory: UnsafeMutableRawBufferPointer
    private let descriptor: Descriptor
    /// Blocking eventfd the writer sleeps on; the loop adds one per chunk and at `finish`.
    private let wakeDescriptor: Descriptor

    init(descriptor: consuming Descriptor, chunkCount: Int) throws(SystemError) {
        precondition(chunkCount >= 2)
        self.wakeDescriptor = Descriptor(taking: try checkedSyscall("eventfd") { eventfd(0, Int32(EFD_CLOEXEC)) })
        self.descriptor = descriptor
        self.chunkCount = chunkCount
        lengths = .allocate(capacity: chunkCount)
        lengths.initialize(repeating: 0)
        memory = .allocate(byteCount: chunkCount * BackgroundWriter.chunkSize, alignment: 64)
    }

    deinit {
        lengths.deallocate()
        memory.deallocate()
    }

    func chunk(_ index: Int) -> UnsafeMutableRawBufferPointer {
        let size = BackgroundWriter.chunkSize
        return UnsafeMutableRawBufferPointer(rebasing: memory[(index % chunkCount) * size..<(index % chunkCount + 1) * size])
    }

    func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeDescriptor.rawValue, &one, 8)
    }

    /// The writer thread.
    func run() {
        var done = 0
        while true {
            let ready = handedOver.load(ordering: .acquiring)
            while done < ready {
                if failedErrno.load(ordering: .relaxed) == 0 {
                    let chunk = chunk(done)
                    writeWhole(UnsafeRawBufferPointer(rebasing: chunk[..<lengths[done % chunkCount]]))
                }
                done += 1
                written.store(done, ordering: .releasing)
            }
            // Chunks handed over while a stalled socket was waited for: their wake-ups were
            // read by waitWritable, so look again before sleeping.
            if handedOver.load(ordering: .acquiring) > done { continue }
            if finishing.load(ordering: .acquiring) { return }
            var counter: UInt64 = 0
            _ = Glibc.read(wakeDescriptor.rawValue, &counter, 8)
        }
    }

    /// A file takes it all; a non-blocking socket whose reader is behind is waited for here,
    /// on this thread, unless the capture is finishing.
    private func writeWhole(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor.rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            if count > 0 {
                offset += count
                continue
            }
            let code = count < 0 ? errno : EIO
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else {
                failedErrno.store(code, ordering: .releasing)
                return
            }
            guard !finishing.load(ordering: .acquiring), waitWritable() else { return }
        }
    }

    /// Until the socket takes more (true) or the capture finishes (false).
    private func waitWritable() -> Bool {
        var descriptors = [
            pollfd(fd: descriptor.rawValue, events: Int16(POLLOUT), revents: 0),
            pollfd(fd: wakeDescriptor.rawValue, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let result = poll(&descriptors, 2, -1)
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { return false }
            if descriptors[0].revents != 0 { return true }
            // A wake-up: another chunk (run() finds it by the counters) or the end.
            var counter: UInt64 = 0
            _ = Glibc.read(wakeDescriptor.rawValue, &counter, 8)
            if finishing.load(ordering: .acquiring) { return false }
        }
    }
}
