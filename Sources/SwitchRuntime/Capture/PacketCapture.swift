import F2FBase
import F2FCore
import F2FPosix

/// Writes what one port sends and receives to a pcap file or stream (`pcap/start`,
/// `f2f-switch capture`). The engine hands it each frame of its port; the frame is appended to
/// a buffer reserved at the start, and the buffer is written when it holds 64 KiB or, at the
/// latest, `flushDelay` after its first frame (a timer on the loop): no system call and no
/// allocation per frame, and a write per 40 or so full-size frames rather than per batch.
///
/// Bounded: at most `maximumBytes` reach the destination (the file header included); past that
/// the capture stops taking frames and says so in `pcap/print`. A stream whose reader falls
/// behind costs at most the buffer: frames that do not fit are counted as dropped, and the
/// switch never waits for the reader.
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
    /// Frames wait here until they are written: room for a write's worth and a full batch more.
    static let bufferCapacity = 256 << 10
    /// A write of this much goes out at once.
    static let flushThreshold = 64 << 10
    /// How long a frame may wait in the buffer: a live reader (`| tcpdump -r -`) sees it this
    /// late at most.
    public static let flushDelay = Duration.milliseconds(20)

    public let destination: Destination
    public let maximumBytes: Int
    public private(set) var state = State.recording
    /// Bytes taken for the destination so far (headers included).
    public private(set) var byteCount = 0
    public private(set) var frameCount: UInt64 = 0
    /// Frames that did not fit in the buffer because the destination did not take the earlier
    /// ones (a stream's slow reader).
    public private(set) var droppedCount: UInt64 = 0

    private let descriptor: Descriptor
    private let loop: any EventLoop
    /// `bufferCapacity` bytes allocated once: frames are copied in with one `memcpy` each.
    private let buffer: UnsafeMutableRawBufferPointer
    /// Bytes of `buffer` in use.
    private var filled = 0
    /// Bytes at the head of `buffer` already written.
    private var writtenOffset = 0
    private var flushTimer: LoopTimerID?
    /// The destination took less than it was offered (a stream's reader behind): only the
    /// timer tries again, so a blocked stream never costs a system call per frame.
    private var isBlocked = false
    /// The loop's time and the calendar's at the start: a frame's timestamp is the
    /// calendar's start plus the loop time since, so the clock is read once, not per frame.
    private let startInstant: Instant
    private let startMicroseconds: Int64

    /// Starts the capture with the pcap file header. `descriptor`: a new file or a stream
    /// socket, non-blocking if it can block.
    public init(destination: Destination, descriptor: consuming Descriptor, maximumBytes: Int = defaultMaximumBytes, loop: any EventLoop) {
        self.destination = destination
        self.descriptor = descriptor
        self.maximumBytes = max(maximumBytes, PcapFormat.fileHeaderCount)
        self.loop = loop
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferCapacity, alignment: 8)
        startInstant = loop.now
        let wall = WallClock.now()
        startMicroseconds = wall.seconds * 1_000_000 + wall.nanoseconds / 1000
        var header: [UInt8] = []
        PcapFormat.appendFileHeader(into: &header)
        header.withUnsafeBytes { buffer.copyMemory(from: $0) }
        filled = header.count
        byteCount = header.count
        scheduleFlush()
    }

    deinit {
        buffer.deallocate()
    }

    public var rawDescriptor: Int32 { descriptor.rawValue }

    /// Takes one frame the port received or is sent. `now`: the loop's time of this wake-up.
    @inline(__always)
    public func record(_ frame: UnsafeRawBufferPointer, now: Instant) {
        guard state == .recording else { return }
        let needed = PcapFormat.recordHeaderCount + frame.count
        guard byteCount + needed <= maximumBytes else {
            state = .full
            return
        }
        if filled + needed > Self.bufferCapacity {
            if !isBlocked { flush() }
            guard filled + needed <= Self.bufferCapacity else {
                droppedCount &+= 1
                return
            }
        }
        let microseconds = startMicroseconds + (now - startInstant).nanoseconds / 1000
        PcapFormat.storeRecordHeader(at: buffer.baseAddress! + filled, microseconds: microseconds, count: frame.count)
        if let source = frame.baseAddress {
            (buffer.baseAddress! + filled + PcapFormat.recordHeaderCount).copyMemory(from: source, byteCount: frame.count)
        }
        filled += needed
        byteCount += needed
        frameCount &+= 1
        if filled - writtenOffset >= Self.flushThreshold, !isBlocked {
            flush()
        } else if flushTimer == nil {
            scheduleFlush()
        }
    }

    private func scheduleFlush() {
        flushTimer = loop.schedule(after: Self.flushDelay) { [weak self] in
            guard let self else { return }
            flushTimer = nil
            flush()
            // What the destination did not take yet (a stream's reader behind) is tried again.
            if writtenOffset < filled { scheduleFlush() }
        }
    }

    /// Writes what the buffer holds, as far as the destination takes it now.
    public func flush() {
        let raw = descriptor.rawValue
        while writtenOffset < filled {
            let pending = UnsafeRawBufferPointer(rebasing: buffer[writtenOffset..<filled])
            let result = Result { () throws(SystemError) in try FileSystem.writeAvailable(raw, from: pending) }
            switch result {
            case .success(.processed(let count)):
                writtenOffset += count
            case .success(.wouldBlock):
                isBlocked = true
                // What was written is dropped from the head once it is most of the buffer.
                if writtenOffset > filled / 2 {
                    buffer.baseAddress!.copyMemory(from: pending.baseAddress!, byteCount: pending.count)
                    filled = pending.count
                    writtenOffset = 0
                }
                return
            case .failure(let error):
                if state != .stopped { state = .failed(error) }
                filled = 0
                writtenOffset = 0
                return
            }
        }
        filled = 0
        writtenOffset = 0
        isBlocked = false
    }

    /// Takes no more frames and writes what is left (as far as the destination takes it now);
    /// the descriptor closes when the capture goes.
    public func stop() {
        if let flushTimer { loop.cancelTimer(flushTimer) }
        flushTimer = nil
        flush()
        if state == .recording || state == .full { state = .stopped }
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
