import F2FCore
@testable import F2FSecure
import Foundation
import Glibc

/// A friend's real key over a real TCP socket, speaking Noise and the F2F packets by hand, so
/// that its hello says whatever a test wants (a switch would always tell the truth).
final class HandmadeFriend {
    let descriptor: Int32
    private var sendCipher: NoiseCipherState
    private var receiveCipher: NoiseCipherState

    /// Completes the Noise handshake as initiator with the key in `keyPath` (an identity file).
    init(port: UInt16, keyPath: String) throws {
        let key = try Self.loadKey(keyPath)
        var handshake = NoiseHandshake(role: .initiator, localStatic: key.privateKey, prologue: SecureConnection.prologue)
        descriptor = try TCPPorts.connect(port: port)
        do {
            try Self.sendRecord(try handshake.writeMessage(), on: descriptor)
            _ = try handshake.readMessage(try Self.receiveRecord(from: descriptor))
            try Self.sendRecord(try handshake.writeMessage(), on: descriptor)
        } catch {
            close(descriptor)
            throw error
        }
        (sendCipher, receiveCipher) = handshake.transportCiphers()
    }

    /// The switch's hello: its first packet once the link is encrypted.
    func receiveHello() throws -> Hello {
        var plaintext: [UInt8] = []
        try receiveCipher.decrypt(try Self.receiveRecord(from: descriptor), associatedData: [UInt8](), appendingTo: &plaintext)
        let received = plaintext
        let header = try F2FPacketHeader(parsing: received.span)
        guard header.type == .hello, received.count >= F2FPacketHeader.encodedCount + header.payloadCount else {
            throw TestFailure("expected a whole hello first, got \(header.type)")
        }
        let payload = Array(received[F2FPacketHeader.encodedCount..<(F2FPacketHeader.encodedCount + header.payloadCount)])
        return try Hello(parsing: payload.span)
    }

    func send(_ hello: Hello) throws {
        var payload: [UInt8] = []
        hello.encode(into: &payload)
        var plaintext: [UInt8] = []
        F2FPacketHeader(type: .hello, payloadCount: payload.count).encode(into: &plaintext)
        plaintext += payload
        var record: [UInt8] = []
        try sendCipher.encrypt(plaintext, associatedData: [UInt8](), appendingTo: &record)
        try Self.sendRecord(record, on: descriptor)
    }

    deinit {
        close(descriptor)
    }

    private static func loadKey(_ path: String) throws -> IdentityKey {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if let word = line.split(separator: " ").last, let key = IdentityKey(encoded: String(word)) { return key }
        }
        throw TestFailure("no key in \(path)")
    }

    private static func sendRecord(_ message: [UInt8], on fd: Int32) throws {
        let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
        guard framed.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == framed.count else {
            throw TestFailure("short send")
        }
    }

    /// One length-prefixed record, read byte-exactly (the next record stays in the socket).
    private static func receiveRecord(from fd: Int32) throws -> [UInt8] {
        let header = try receiveExactly(2, from: fd)
        return try receiveExactly(Int(header[0]) << 8 | Int(header[1]), from: fd)
    }

    private static func receiveExactly(_ count: Int, from fd: Int32) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        let deadline = ContinuousClock.now + .seconds(5)
        while received < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("no record within 5 s") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { throw TestFailure("poll failed") }
            guard poller.revents != 0 else { continue }
            let got = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, count - received, 0) }
            guard got > 0 else { throw TestFailure("connection closed after \(received) of \(count) bytes") }
            received += got
        }
        return bytes
    }
}
