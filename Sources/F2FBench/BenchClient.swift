import EthernetSwitch
import F2FPosix
import Glibc
import VDEPlug

/// One benchmark port: attached through libvdeplug, then driven with batched system calls
/// on its data socket so that the generator is never the bottleneck.
final class BenchClient {
    /// Nil for a sender on an f2f-switch `--dgram` port.
    let connection: VDEPlugConnection?
    private var ownSocket: Descriptor?
    private var ownPath: String?
    /// On a `--dgram` port: the switch's socket, named in every datagram (the sender's own
    /// socket is never connected, as QEMU's is not).
    private var destination: UnixSocketAddress?
    /// On a `--stream` port: 64 copies of the burst's frame, each after its 4-byte length,
    /// and how much of them the socket has taken.
    private var isStream = false
    private var streamBurst: [UInt8] = []
    private var streamFrameSize = 0
    private var streamOffset = 0
    let address: MACAddress
    let descriptor: Int32
    let receiveBatch = ReceiveBatch(capacity: 64, bufferSize: 65536)
    let sendBatch = SendBatch(capacity: 64)

    init(directory: String, address: MACAddress, name: String) throws {
        let connection = try VDEPlugConnection(url: "vde://" + directory, description: "f2f-bench \(name)")
        connection.setNonBlocking()
        self.connection = connection
        self.address = address
        descriptor = connection.dataDescriptor
        // Room for bursts in both directions.
        UnixSocket.setSendBufferSize(descriptor, bytes: 4 << 20)
        UnixSocket.setReceiveBufferSize(descriptor, bytes: 4 << 20)
    }

    /// A sender on an f2f-switch `--dgram` port (QEMU's dgram netdev protocol: one frame per
    /// datagram): its own socket, bound next to `dgramPath`, sending to it as QEMU's
    /// net/dgram.c does: `sendto` with the switch's path on every datagram, never `connect`.
    /// A connected sender would skip the kernel's lookup of that path per datagram (about
    /// 1.4 µs of a 64-byte datagram's 2.7 µs): cheaper than QEMU by default. `connected`
    /// models QEMU handed a socket already connected to the switch (`local.type=fd`), which
    /// then uses `send` and skips that lookup.
    init(dgramPath: String, address: MACAddress, connected: Bool = false) throws {
        let socket = try UnixSocket.makeDatagram()
        let path = dgramPath + ".bench-\(getpid())"
        unlink(path)
        guard let own = UnixSocketAddress(path: path), let target = UnixSocketAddress(path: dgramPath) else {
            throw SystemError(errno: ENAMETOOLONG, operation: "bind \(path)")
        }
        try UnixSocket.bind(socket.rawValue, to: own)
        ownPath = path
        if connected {
            try UnixSocket.connect(socket.rawValue, to: target)
        } else {
            destination = target
        }
        connection = nil
        self.address = address
        descriptor = socket.rawValue
        ownSocket = consume socket
        UnixSocket.setSendBufferSize(descriptor, bytes: 4 << 20)
        UnixSocket.setReceiveBufferSize(descriptor, bytes: 4 << 20)
    }

    /// A sender on an f2f-switch `--stream` unix socket (QEMU's stream netdev protocol: a
    /// 4-byte big-endian length before each frame).
    init(streamPath: String, address: MACAddress) throws {
        let socket = try UnixSocket.makeStream()
        guard let target = UnixSocketAddress(path: streamPath) else {
            throw SystemError(errno: ENAMETOOLONG, operation: "connect \(streamPath)")
        }
        try UnixSocket.connect(socket.rawValue, to: target)
        connection = nil
        isStream = true
        self.address = address
        descriptor = socket.rawValue
        ownSocket = consume socket
        UnixSocket.setSendBufferSize(descriptor, bytes: 4 << 20)
    }

    private static func framed(_ frame: UnsafeRawBufferPointer) -> [UInt8] {
        let length = UInt32(frame.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + Array(frame)
    }

    deinit {
        if let ownPath { unlink(ownPath) }
    }

    /// A frame to `destination` of `size` bytes; bytes 14..<22 carry a sequence number.
    static func makeFrame(from source: MACAddress, to destination: MACAddress, size: Int) -> [UInt8] {
        var frame: [UInt8] = []
        EthernetHeader(destination: destination, source: source, etherType: 0x88B5).encode(into: &frame)
        frame += repeatElement(0x5A, count: max(0, size - frame.count))
        return frame
    }

    func sendOne(_ frame: [UInt8]) throws {
        if let connection {
            _ = try connection.send(frame)
        } else if isStream {
            let framed = frame.withUnsafeBytes(Self.framed)
            _ = try framed.withUnsafeBytes { bytes throws(SystemError) in try UnixSocket.write(descriptor, from: bytes) }
        } else if let destination {
            _ = try frame.withUnsafeBytes { bytes throws(SystemError) in try UnixSocket.send(descriptor, bytes, to: destination) }
        } else {
            _ = try frame.withUnsafeBytes { bytes throws(SystemError) in try UnixSocket.write(descriptor, from: bytes) }
        }
    }

    /// Sends `frame` up to `count` times in one `sendmmsg`; returns how many the socket took.
    func sendBurst(_ frame: UnsafeRawBufferPointer, count: Int) throws -> Int {
        if isStream { return try sendStreamBurst(frame) }
        sendBatch.removeAll()
        for _ in 0..<min(count, sendBatch.capacity) { sendBatch.append(frame) }
        if let destination { return try sendBatch.send(on: descriptor, to: destination) }
        return try sendBatch.send(on: descriptor)
    }

    /// Writes what the stream takes of the burst buffer; returns the frames completed.
    private func sendStreamBurst(_ frame: UnsafeRawBufferPointer) throws -> Int {
        if streamFrameSize != frame.count + 4 {
            let one = Self.framed(frame)
            streamBurst = Array([[UInt8]](repeating: one, count: 64).joined())
            streamFrameSize = one.count
            streamOffset = 0
        }
        let before = streamOffset
        let result = try streamBurst.withUnsafeBytes { bytes throws(SystemError) in
            try UnixSocket.write(descriptor, from: UnsafeRawBufferPointer(rebasing: bytes[streamOffset...]))
        }
        guard case .processed(let written) = result else { return 0 }
        streamOffset += written
        let completed = streamOffset / streamFrameSize - before / streamFrameSize
        if streamOffset == streamBurst.count { streamOffset = 0 }
        return completed
    }

    /// Receives what is queued (one `recvmmsg`); returns the number of frames, not counting
    /// the spanning tree hellos a switch sends every client (they are not the load's frames).
    func receiveBurst() throws -> Int {
        switch try receiveBatch.receive(from: descriptor) {
        case .processed(let count):
            var frames = count
            for index in 0..<count where Self.isBPDU(receiveBatch.datagram(index)) { frames -= 1 }
            return frames
        case .wouldBlock:
            return 0
        }
    }

    private static func isBPDU(_ frame: UnsafeRawBufferPointer) -> Bool {
        frame.count >= 6 && frame[0] == 0x01 && frame[1] == 0x80 && frame[2] == 0xC2 && frame[3] == 0 && frame[4] == 0 && frame[5] == 0
    }

    /// Waits for a frame of the load (hellos passed over); false if none came in time.
    func awaitFrame(milliseconds: Int32) throws -> Bool {
        let deadline = Clock.nanoseconds() + UInt64(milliseconds) * 1_000_000
        while case let now = Clock.nanoseconds(), now < deadline {
            guard waitReadable(milliseconds: max(1, Int32((deadline - now) / 1_000_000))) else { return false }
            if try receiveBurst() > 0 { return true }
        }
        return false
    }

    /// Waits until readable or the timeout passes.
    func waitReadable(milliseconds: Int32) -> Bool {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, milliseconds) > 0
    }
}
