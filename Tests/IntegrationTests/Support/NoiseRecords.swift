import Glibc

/// Noise handshake messages on a raw socket, framed as the switch frames them (a 2-byte
/// big-endian length): for tests that play a hostile or hand-made initiator.
func sendRecord(_ message: [UInt8], on fd: Int32) throws {
    let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
    guard framed.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == framed.count else {
        throw TestFailure("short send")
    }
}

func receiveRecord(from fd: Int32) throws -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 2048)
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        if bytes.count >= 2, bytes.count >= 2 + (Int(bytes[0]) << 8 | Int(bytes[1])) {
            return Array(bytes[2..<(2 + (Int(bytes[0]) << 8 | Int(bytes[1])))])
        }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 100) >= 0 else { break }
        if poller.revents != 0 {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
    }
    throw TestFailure("no handshake message from the switch")
}
