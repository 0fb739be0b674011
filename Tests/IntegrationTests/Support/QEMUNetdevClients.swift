import EthernetSwitch
import Foundation
import Glibc

/// Speaks QEMU's stream netdev protocol (4-byte big-endian length, then the frame) over a
/// blocking unix or TCP stream socket, as `-netdev stream` and `-netdev socket,connect=` do.
///
/// A failed init leaves `fd` to `deinit` (which runs once every stored property is set): closing
/// it there as well could close a descriptor another test has since been given.
final class StreamTestClient: TestFrameSource {
    let fd: Int32
    let mac: MACAddress

    init(unixPath: String, mac: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.mac = MACAddress(parsing: mac)!
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(unixPath.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw TestFailure("connect \(unixPath): errno \(errno)")
        }
    }

    init(tcpPort: UInt16, mac: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.mac = MACAddress(parsing: mac)!
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = tcpPort.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            throw TestFailure("connect 127.0.0.1:\(tcpPort): errno \(errno)")
        }
    }

    deinit {
        close(fd)
    }

    func send(_ frame: [UInt8]) throws {
        try sendRaw(Self.framed(frame))
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written == bytes.count else { throw TestFailure("short stream write: \(written)") }
    }

    func setNonBlocking() {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Writes what the socket takes now (non-blocking): the number of bytes, 0 when full.
    func tryWrite(_ bytes: ArraySlice<UInt8>) throws -> Int {
        let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if written >= 0 { return written }
        guard errno == EAGAIN else { throw TestFailure("stream write: errno \(errno)") }
        return 0
    }

    /// The 4-byte big-endian length QEMU puts before each frame, and the frame.
    static func framed(_ frame: [UInt8]) -> [UInt8] {
        let length = UInt32(frame.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + frame
    }

    /// Reads exactly `count` bytes; nil on timeout, end of stream or error.
    private func read(_ count: Int, deadline: ContinuousClock.Instant) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            guard wait(until: deadline) else { return nil }
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, count - done) }
            guard got > 0 else { return nil }
            done += got
        }
        return bytes
    }

    private func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let left = deadline - ContinuousClock.now
        let milliseconds = max(0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, milliseconds) > 0
    }

    /// The next frame that is not a spanning tree hello, or nil.
    func receive(timeout: Duration = .seconds(5)) -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let header = read(4, deadline: deadline) else { return nil }
            let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            guard length > 0, length <= 65536, let frame = read(length, deadline: deadline) else { return nil }
            if !TestClient.isBPDU(frame) { return frame }
        }
    }

    /// True when the switch closes the connection within `timeout` (whatever it sent before).
    func isClosedBySwitch(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while wait(until: deadline) {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got <= 0 { return true }
        }
        return false
    }
}

/// Speaks QEMU's dgram netdev protocol on unix sockets: one frame per datagram, sent from a
/// bound socket to the switch's path.
final class DatagramTestClient: TestFrameSource {
    let fd: Int32
    let mac: MACAddress
    let path: String
    private let switchPath: String

    init(path: String, switchPath: String, mac: String) throws {
        self.path = path
        self.switchPath = switchPath
        self.mac = MACAddress(parsing: mac)!
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        unlink(path)
        var address = Self.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            throw TestFailure("bind \(path): errno \(errno)")
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    private static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
        return address
    }

    func send(_ frame: [UInt8]) throws {
        guard try send(frame, flags: 0) else { throw TestFailure("dgram send would block") }
    }

    /// Sends without waiting, as QEMU's non-blocking socket does: false when the kernel
    /// would block.
    func trySend(_ frame: [UInt8]) throws -> Bool {
        try send(frame, flags: Int32(MSG_DONTWAIT))
    }

    private func send(_ frame: [UInt8], flags: Int32) throws -> Bool {
        var address = Self.address(switchPath)
        let sent = frame.withUnsafeBytes { raw in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, flags, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        if sent < 0, errno == EAGAIN { return false }
        guard sent == frame.count else { throw TestFailure("dgram send: \(sent), errno \(errno)") }
        return true
    }

    /// The next frame that is not a spanning tree hello, or nil.
    func receive(timeout: Duration = .seconds(5)) -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline - ContinuousClock.now
            let milliseconds = max(0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) > 0 else { return nil }
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { return nil }
            let frame = Array(buffer[..<got])
            if !TestClient.isBPDU(frame) { return frame }
        }
    }
}
