import Foundation
import Glibc

/// Speaks to the management console as vdeterm does: wait for the prompt, send one line,
/// read up to the next prompt.
final class ConsoleClient {
    struct Response {
        /// Lines between `0000 DATA END WITH '.'` and `.`.
        var data: [String]
        /// The `1NNN …` line.
        var status: String
        var raw: String
    }

    static let prompt = "\nvde$ "
    let descriptor: Int32
    private(set) var banner = ""

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect \(path): \(String(cString: strerror(errno)))") }
        banner = try readUntil(Self.prompt)
    }

    func sendRaw(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(descriptor, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    func send(_ line: String) throws -> Response {
        sendRaw(line + "\n")
        let raw = try readUntil(Self.prompt)
        var lines = raw.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var data: [String] = []
        if lines.first == "0000 DATA END WITH '.'" {
            lines.removeFirst()
            while let line = lines.first, line != "." {
                data.append(line)
                lines.removeFirst()
            }
            lines.removeFirst()
        }
        return Response(data: data, status: lines.first ?? "", raw: raw)
    }

    /// Everything until `terminator` (included) or end of stream.
    func readUntil(_ terminator: String, timeout: Duration = .seconds(10)) throws -> String {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).hasSuffix(terminator) {
            guard ContinuousClock.now < deadline else { throw TestFailure("console: no '\(terminator)' after \(String(decoding: received, as: UTF8.self))") }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() {
        Glibc.close(descriptor)
    }
}
