import F2FPosix
import Foundation
import Glibc
import Testing
import SwitchRuntime
import VDEServer

/// Requests that cannot be served close the control stream promptly and disturb no one.
@Suite(.serialized) struct ControlProtocolTests {
    /// Connects to ctl, sends `bytes`, and returns what came back before the switch closed the stream.
    func exchange(_ directory: String, _ bytes: [UInt8], timeout: Int32 = 5000) throws -> (reply: [UInt8], closed: Bool) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let address = UnixSocketAddress(path: directory + "/ctl")!
        try address.withSockaddr { pointer, length throws(SystemError) in
            guard connect(fd, pointer, length) == 0 else { throw SystemError(errno: errno, operation: "connect") }
        }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout) == 1 else { return (reply, false) }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return (reply, true) }
            reply += buffer[..<count]
        }
    }

    /// A bound client socket for hand-made requests.
    func clientSocket(_ directory: String, name: String) throws -> (fd: Int32, address: UnixSocketAddress) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let address = UnixSocketAddress(path: directory + "/" + name)!
        try address.withSockaddr { pointer, length throws(SystemError) in
            guard bind(fd, pointer, length) == 0 else { throw SystemError(errno: errno, operation: "bind") }
        }
        return (fd, address)
    }

    func request(_ kind: VDERequest.Kind, _ address: UnixSocketAddress, version: UInt32 = 3) -> [UInt8] {
        var bytes: [UInt8] = []
        VDERequest(kind: kind, clientAddress: address, description: "hand-made", version: version).encode(into: &bytes)
        return bytes
    }

    @Test func badRequestsAreClosedWithoutReplyWhileOthersKeepWorking() throws {
        let sw = try SwitchProcess()
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        let client = try clientSocket(sw.workDirectory, name: "c1")
        defer { close(client.fd) }

        var badVersion = request(.newControl(port: nil), client.address)
        badVersion[4] = 2
        var badType = request(.newControl(port: nil), client.address)
        badType[8] = 7
        let cases: [(String, [UInt8])] = [
            ("garbage", Array("GET / HTTP/1.0\r\n\r\n".utf8)),
            ("bad magic", [0xDE, 0xAD, 0xBE, 0xEF] + [UInt8](repeating: 0, count: 130)),
            ("version 2", badVersion),
            ("request type 7", badType),
            ("port out of range", request(.newControl(port: 99), client.address)),
            ("port taken", request(.newControl(port: 1), client.address)),
            ("inaccessible client socket", request(.newControl(port: nil), UnixSocketAddress(path: sw.workDirectory + "/missing")!)),
        ]
        for (name, bytes) in cases {
            let outcome = try exchange(sw.socketDirectory, bytes)
            #expect(outcome.closed, "\(name): control stream must be closed")
            #expect(outcome.reply.isEmpty, "\(name): no reply expected")
            let frame = a.frame(to: b.mac, tag: UInt8(bytes.count & 0xFF))
            try a.send(frame)
            #expect(try b.receive() == frame, "\(name): existing clients keep working")
        }
        let (_, log) = try sw.stop()
        #expect(log.contains("refused VDE client: bad magic"))
        #expect(log.contains("unsupported protocol version 2"))
        #expect(log.contains("port 99 out of range"))
        #expect(log.contains("port 1 is taken"))
    }

    @Test func handMadeVersion1AndVersion3RequestsGetA110ByteReply() throws {
        let sw = try SwitchProcess()
        // Each client leaves at the end of its iteration, so both get port 1.
        for version in [UInt32(3), 1] {
            let client = try clientSocket(sw.workDirectory, name: "v\(version)")
            defer { close(client.fd) }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            try UnixSocketAddress(path: sw.socketDirectory + "/ctl")!.withSockaddr { pointer, length throws(SystemError) in
                guard connect(fd, pointer, length) == 0 else { throw SystemError(errno: errno, operation: "connect") }
            }
            let bytes = request(.newControl(port: nil), client.address, version: version)
            // Split in two writes: the switch must accumulate the header.
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, 50, 0) }
            usleep(20_000)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + 50, $0.count - 50, 0) }
            var reply = [UInt8](repeating: 0, count: 200)
            let count = recv(fd, &reply, reply.count, 0)
            #expect(count == 110)
            #expect(reply[0] == 1 && reply[1] == 0)
            let path = String(decoding: reply[2..<110].prefix { $0 != 0 }, as: UTF8.self)
            #expect(path.hasPrefix(sw.socketDirectory + "/001."))
            var status = stat()
            #expect(stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFSOCK)
        }
        try sw.stop()
    }
}
