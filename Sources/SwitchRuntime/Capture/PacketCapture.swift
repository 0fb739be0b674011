import F2FBase
import F2FCore
import F2FPosix

/// Writes what one port sends and receives to a pcap file or stream (`pcap/start`,
/// `f2f-switch capture`). The engine hands it each frame of its port; the frame is copied
/// (one `memcpy` after its record header) into a chunk reserved at the start, and full chunks
/// go to a `BackgroundWriter`, whose thread writes them: the loop makes no system call per
/// frame and never one that writes, so a capture to a file costs a captured port little more
/// than a copy of each frame (docs/packet-capture.md). A chunk not full is handed over at the
/// latest `flushDelay` after its first frame (a timer on the loop).
///
/// Bounded: at most `maximumBytes` reach the destination (the file header included); past that
/// the capture stops taking frames and says so in `pcap/print`. When the writer is behind (a
/// stream's slow reader, a slow disk) by all its chunks, frames are counted as dropped, and the
/// switch never waits for it.
public final class PacketCapture {
    public enum Destination: Sendable, CustomStringConvertible {
        case file(String)
        /// `f2f-switch capture` on the capture socket.
        case stream

        public var description: String {
            switch self {
            case .file(let path): LogText.escaped(path)
            case .stream: "stream"
            }
        }
    }

    public enum State: Equatable, Sendable {
        case recording
        /// `maximumBytes` reached: frames are no longer taken.
        case full
        /// Writing failed (a full disk, a stream's reader gone): frames are no longer taken.
        case failed(SystemError)
        case stopped
    }

    public static let defaultMaximumBytes = 100 << 20
    /// Chunks of `BackgroundWriter.chunkSize` (256 KiB): the writer may be 4 MiB behind.
    static let chunkCount = 16
    /// How long a frame may wait in a chunk: a live reader (`| tcpdump -r -`) sees it this
    /// late at most, if the writer keeps up.
    public static let flushDelay = Duration.milliseconds(20)

    public let destination: Destination
    public let maximumBytes: Int
    public private(set) var state = State.recording
    /// Bytes taken for the destination so far (headers included).
    public private(set) var byteCount = 0
    public private(set) var frameCount: UInt64 = 0
    /// Frames not taken because the writer was behind by all its chunks.
    public private(set) var droppedCount: UInt64 = 0

    private let loop: any EventLoop
    private let writer: BackgroundWriter?
    /// The chunk being filled; nil after one was handed over while none was free.
    private var chunk: UnsafeMutableRawBufferPointer?
    /// Bytes of `chunk` in use.
    private var filled = 0
    private var flushTimer: LoopTimerID?
    /// The loop's time and the calendar's at the start: a frame's timestamp is the
    /// calendar's start plus the loop time since, so the clock is read once, not per frame.
    private let startInstant: Instant
    private let startMicroseconds: Int64

    /// Starts the capture with the pcap file header. `descriptor`: a new file or a stream
    /// socket, non-blocking if it can block; the writer thread closes it when it is done.
    public init(destination: Destination, descriptor: consuming Descriptor, maximumBytes: Int = defaultMaximumBytes, loop: any EventLoop) {
        self.destination = destination
        self.maximumBytes = max(maximumBytes, PcapFormat.fileHeaderCount)
        self.loop = loop
        startInstant = loop.now
        let wall = WallClock.now()
        startMicroseconds = wall.seconds * 1_000_000 + wall.nanoseconds / 1000
        do throws(SystemError) {
            writer = try BackgroundWriter(descriptor: descriptor, chunkCount: Self.chunkCount)
        } catch {
            writer = nil
            state = .failed(error)
            return
        }
        chunk = writer?.nextChunk()
        var header: [UInt8] = []
        PcapFormat.appendFileHeader(into: &header)
        header.withUnsafeBytes { chunk!.copyMemory(from: $0) }
        filled = header.count
        byteCount = header.count
        scheduleFlush()
    }

    deinit {
        if let flushTimer { loop.cancelTimer(flushTimer) }
    }

    /// Takes one frame the port received or is sent. `now`: the loop's time of this wake-up.
    @inline(__always)
    public func record(_ frame: UnsafeRawBufferPointer, now: Instant) {
        guard state == .recording else { return }
        let needed = PcapFormat.recordHeaderCount + frame.count
        guard byteCount + needed <= maximumBytes else {
            state = .full
            return
        }
        if filled + needed > chunk?.count ?? 0 {
            guard takeNextChunk() else {
                droppedCount &+= 1
                return
            }
        }
        let start = chunk!.baseAddress! + filled
        let microseconds = startMicroseconds + (now - startInstant).nanoseconds / 1000
        PcapFormat.storeRecordHeader(at: start, microseconds: microseconds, count: frame.count)
        if let source = frame.baseAddress {
            (start + PcapFormat.recordHeaderCount).copyMemory(from: source, byteCount: frame.count)
        }
        filled += needed
        byteCount += needed
        frameCount &+= 1
        if flushTimer == nil { scheduleFlush() }
    }

    /// Hands the chunk being filled to the writer and takes a free one; false when none is
    /// free (the writer is behind) or the writer failed.
    private func takeNextChunk() -> Bool {
        guard let writer else { return false }
        if chunk != nil {
            if filled > 0 { writer.handOver(count: filled) }
            chunk = nil
            filled = 0
            if let failure = writer.failure {
                state = .failed(failure)
                return false
            }
        }
        chunk = writer.nextChunk()
        return chunk != nil
    }

    private func scheduleFlush() {
        flushTimer = loop.schedule(after: Self.flushDelay) { [weak self] in
            guard let self else { return }
            flushTimer = nil
            flush()
        }
    }

    /// Hands what the chunk holds to the writer now.
    public func flush() {
        guard filled > 0 else { return }
        _ = takeNextChunk()
    }

    /// Takes no more frames and hands the rest to the writer, which writes it (as far as a
    /// stream's reader takes it), closes the descriptor and ends on its own.
    public func stop() {
        if let flushTimer { loop.cancelTimer(flushTimer) }
        flushTimer = nil
        if state == .recording || state == .full { flush() }
        writer?.finish()
        if state == .recording || state == .full { state = .stopped }
    }

    /// Blocks until the writer has written what it was handed; once the capture is stopped
    /// (or failed), until the writer has closed the descriptor and ended: at shutdown, so that
    /// the file is complete when the process exits; and in tests.
    public func waitUntilWritten() {
        switch state {
        case .recording, .full: writer?.waitUntilWritten()
        case .failed, .stopped: writer?.waitUntilFinished()
        }
    }

    /// For `pcap/print`.
    public var summary: String {
        let stateText = switch state {
        case .recording: "recording"
        case .full: "full"
        case .failed(let error): "failed (\(error))"
        case .stopped: "stopped"
        }
        return "\(destination) \(stateText) frames \(frameCount) bytes \(byteCount)/\(maximumBytes) dropped \(droppedCount)"
    }
}
