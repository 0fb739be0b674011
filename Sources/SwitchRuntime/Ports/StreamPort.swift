import EthernetSwitch
import F2FCore
import F2FPosix

/// One connection to a `--stream` listener: QEMU's stream netdev (`-netdev stream`) or its
/// socket netdev (`-netdev socket,connect=`, libvirt's `type='client'`), both of which send
/// each frame as a 4-byte big-endian length followed by the frame (QEMU net/stream.c,
/// net_fill_rstate). The connection is the port: it goes when the connection closes.
///
/// Both directions are bounded: frames are read through a fixed buffer, and what the peer
/// does not take yet waits in a fixed output buffer whose overflow is tail-dropped. A length
/// of zero or above the switch's frame size cannot be resynchronised on (the stream has no
/// markers), so it ends the connection.
final class StreamPort: PortLink {
    let port: Int
    let kind: String
    let linkDescription: String
    let userName: String
    let endpointID: Int
    private var socket: Descriptor?
    private let descriptor: Int32
    private unowned let engine: SwitchEngine
    /// Told when the port closes, so the listener forgets the connection.
    private let onClose: (StreamPort) -> Void
    /// Told of a length that ends the connection (zero or too long).
    private let onFramingError: (StreamPort, UInt32) -> Void
    private static let lengthSize = 4
    private let input: UnsafeMutableRawBufferPointer
    private var inputStart = 0
    private var inputEnd = 0
    private let output: UnsafeMutableRawBufferPointer
    private var outputStart = 0
    private var outputEnd = 0
    private var interest: DataSocketInterest
    private var isResumeScheduled = false

    init(
        port: Int, socket: consuming Descriptor, kind: String, description: String, userName: String, engine: SwitchEngine,
        onClose: @escaping (StreamPort) -> Void, onFramingError: @escaping (StreamPort, UInt32) -> Void
    ) {
        self.port = port
        self.descriptor = socket.rawValue
        self.endpointID = Int(socket.rawValue)
        self.socket = consume socket
        self.kind = kind
        self.linkDescription = description
        self.userName = userName
        self.engine = engine
        interest = DataSocketInterest(descriptor: descriptor, loop: engine.loop)
        self.onClose = onClose
        self.onFramingError = onFramingError
        // Room for many frames per read (one wake-up, one read, a batch of frames); never less
        // than one whole frame, so a frame always fits once the buffer is compacted.
        input = .allocate(byteCount: max(64 << 10, 2 * (engine.maxFrameSize + Self.lengthSize)), alignment: 16)
        // As many frames as a datagram port's burst queue holds, and at least one batch.
        output = .allocate(byteCount: max(engine.burstQueueCapacity, 64) * (engine.maxFrameSize + Self.lengthSize), alignment: 16)
    }

    deinit {
        input.deallocate()
        output.deallocate()
    }

    func activate() throws(LoopRegistrationError) {
        try engine.loop.register(descriptor, interest: .readable, handler: IOCallback { [unowned self] readiness in
            if readiness.contains(.writable) { self.sendBuffered() }
            if readiness.contains(.readable) { self.receive() }
        })
    }

    private var isOpen: Bool { socket != nil }

    // MARK: Ingress

    private func receive() {
        // A bounded number of reads per wake-up so one busy connection cannot starve the others.
        for _ in 0..<4 {
            guard isOpen, interest.isReceiving else { return }
            let room = UnsafeMutableRawBufferPointer(rebasing: input[inputEnd...])
            let result: IOResult<Int>
            do {
                result = try UnixSocket.read(descriptor, into: room)
            } catch {
                detachLater(reason: "stream error: \(error)")
                return
            }
            guard case .processed(let count) = result else { return }
            guard count > 0 else {
                detachLater(reason: "the other side closed the stream")
                return
            }
            inputEnd += count
            forwardBufferedFrames()
            guard count == room.count else { return }
        }
    }

    /// Forwards every whole frame in the input buffer, then moves a partial one to the front.
    private func forwardBufferedFrames() {
        while isOpen, interest.isReceiving, inputEnd - inputStart >= Self.lengthSize {
            let length = UInt32(input[inputStart]) << 24 | UInt32(input[inputStart + 1]) << 16
                | UInt32(input[inputStart + 2]) << 8 | UInt32(input[inputStart + 3])
            guard length > 0, length <= UInt32(engine.maxFrameSize) else {
                engine.recordDrop(port: port, reason: length == 0 ? .runt : .oversize)
                onFramingError(self, length)
                detachLater(reason: "stream framing error: frame length \(length)")
                return
            }
            let end = inputStart + Self.lengthSize + Int(length)
            guard end <= inputEnd else { break }
            engine.receive(UnsafeRawBufferPointer(rebasing: input[(inputStart + Self.lengthSize)..<end]), from: port)
            inputStart = end
        }
        if inputStart == inputEnd {
            inputStart = 0
            inputEnd = 0
        } else if inputStart > 0, input.count - inputEnd < engine.maxFrameSize + Self.lengthSize {
            let remaining = inputEnd - inputStart
            input.baseAddress!.copyMemory(from: input.baseAddress! + inputStart, byteCount: remaining)
            inputStart = 0
            inputEnd = remaining
        }
    }

    // MARK: Egress

    func stage(_ frame: UnsafeRawBufferPointer) {
        guard isOpen else { return }
        let needed = Self.lengthSize + frame.count
        if output.count - outputEnd < needed, outputStart > 0 {
            let pending = outputEnd - outputStart
            output.baseAddress!.copyMemory(from: output.baseAddress! + outputStart, byteCount: pending)
            outputStart = 0
            outputEnd = pending
        }
        guard output.count - outputEnd >= needed else {
            engine.recordDrop(port: port, reason: .queueFull)
            return
        }
        let length = UInt32(frame.count)
        output[outputEnd] = UInt8(truncatingIfNeeded: length >> 24)
        output[outputEnd + 1] = UInt8(truncatingIfNeeded: length >> 16)
        output[outputEnd + 2] = UInt8(truncatingIfNeeded: length >> 8)
        output[outputEnd + 3] = UInt8(truncatingIfNeeded: length)
        if let source = frame.baseAddress, frame.count > 0 {
            (output.baseAddress! + outputEnd + Self.lengthSize).copyMemory(from: source, byteCount: frame.count)
        }
        outputEnd += needed
        // Counted when the stream takes it: from here on only the connection's end loses it.
        engine.recordSent(port: port, byteCount: frame.count)
    }

    /// One write for everything the batch staged; what the socket does not take waits for
    /// it to turn writable.
    func flush() {
        guard isOpen, !isWaitingForWritable, outputStart < outputEnd else { return }
        writeBuffered()
    }

    private func sendBuffered() {
        guard isOpen else { return }
        writeBuffered()
        if outputStart == outputEnd { engine.egressDrained(port: port) }
    }

    private func writeBuffered() {
        while outputStart < outputEnd {
            let result: IOResult<Int>
            do {
                result = try UnixSocket.write(descriptor, from: UnsafeRawBufferPointer(rebasing: output[outputStart..<outputEnd]))
            } catch {
                outputStart = 0
                outputEnd = 0
                engine.recordDrop(port: port, reason: .sendFailed)
                // Not while the engine is flushing its batch: after this dispatch.
                detachLater(reason: "stream error: \(error)")
                return
            }
            guard case .processed(let count) = result, count > 0 else { break }
            outputStart += count
        }
        if outputStart == outputEnd {
            outputStart = 0
            outputEnd = 0
        }
        isWaitingForWritable = outputStart < outputEnd
        interest.setWritable(isWaitingForWritable)
    }

    /// The last write left bytes the socket did not take: the next go when it turns writable.
    private var isWaitingForWritable = false

    var isBackedUp: Bool { isOpen && outputStart < outputEnd }

    // MARK: Back-pressure

    /// Paused, the peer's frames wait in the kernel: TCP's window (or the unix socket's
    /// buffer) fills and QEMU stops sending, instead of the switch dropping them.
    func pauseReceiving() -> Bool {
        interest.pause()
    }

    func resumeReceiving() {
        guard isOpen, !interest.isReceiving else { return }
        interest.resume()
        // Frames already read into the buffer do not make the socket readable again.
        if inputEnd > inputStart, !isResumeScheduled {
            isResumeScheduled = true
            engine.loop.afterCurrentDispatch { [weak self] in
                guard let self else { return }
                isResumeScheduled = false
                if isOpen, interest.isReceiving { forwardBufferedFrames() }
            }
        }
    }

    // MARK: Closing

    private func detachLater(reason: String) {
        _ = interest.pause()
        engine.loop.afterCurrentDispatch { [weak self] in
            guard let self, isOpen, engine.link(at: port) === self else { return }
            engine.detach(port: port, reason: reason)
        }
    }

    func close() {
        guard isOpen else { return }
        interest.close()
        socket = nil
        onClose(self)
    }
}
