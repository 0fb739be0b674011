import F2FCore
import F2FPosix
import Foundation
import Glibc
import Logging
import Testing
import SwitchRuntime

/// The console server on a real socket and event loop, driven turn by turn: a client that
/// writes many printing commands at once and does not read them.
@Suite struct ConsoleServerTests {
    /// A console whose `big/print` answers with about 10 KiB and counts its runs.
    final class Fixture {
        let loop: EpollEventLoop
        let server: ConsoleServer
        let directory: String
        var runs = 0

        init() throws {
            loop = try EpollEventLoop()
            var template = Array("/tmp/f2f-console-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw Failure("mkdtemp failed") }
            directory = String(cString: made)
            let console = Console(banner: "test")
            server = ConsoleServer(
                path: directory + "/mgmt", mode: 0o600, console: console, loop: loop, logger: Logger(label: "test.console"),
                onShutdown: {})
            console.add(ConsoleCommand("big/print", help: "ten kilobytes", printsData: true) { [unowned self] _ in
                runs += 1
                return (0..<100).map { "line \($0) of run \(self.runs) " + String(repeating: "x", count: 80) }
            })
            try server.start()
        }

        func connect() throws -> Int32 {
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array((directory + "/mgmt").utf8)) }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard result == 0 else { throw Failure("connect failed") }
            return descriptor
        }

        func turn() { loop.runOnce(maximumWait: .milliseconds(5)) }

        /// What the client can read now, without waiting.
        func drain(_ descriptor: Int32) -> [UInt8] {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard count > 0 else { return received }
                received += buffer[..<count]
            }
        }

        deinit {
            server.stop()
            rmdir(directory)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test func aBurstOfPrintingCommandsRunsAFewPerTurnAndStopsUntilTheClientReads() throws {
        let fixture = try Fixture()
        let client = try fixture.connect()
        defer { close(client) }
        fixture.turn()  // accepts and greets
        let commandCount = 300
        let burst = Array(String(repeating: "big/print\n", count: commandCount).utf8)
        // 3 000 bytes: one write, as one read of the switch sees it.
        let sent = burst.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(sent == burst.count)

        fixture.turn()
        #expect(fixture.runs > 0)
        #expect(fixture.runs <= 16, "one turn ran \(fixture.runs) commands")

        // The client reads nothing: the switch stops once its socket and a bounded buffer are full.
        for _ in 0..<200 { fixture.turn() }
        #expect(fixture.runs < 100, "\(fixture.runs) commands ran for a client that read nothing")

        // Reading lets the rest run; every answer arrives, complete and in order.
        var received: [UInt8] = []
        var quietTurns = 0
        for _ in 0..<20_000 where quietTurns < 20 {
            fixture.turn()
            let chunk = fixture.drain(client)
            received += chunk
            quietTurns = chunk.isEmpty && fixture.runs == commandCount ? quietTurns + 1 : 0
        }
        let text = String(decoding: received, as: UTF8.self)
        #expect(fixture.runs == commandCount)
        #expect(text.components(separatedBy: "1000 Success\n").count == commandCount + 1)
        #expect(text.contains("line 99 of run \(commandCount) "))
        #expect(!text.contains("line 0 of run \(commandCount + 1) "))
        let lastRunLines = text.components(separatedBy: "\n").filter { $0.hasPrefix("line ") && $0.contains(" of run 150 ") }
        #expect(lastRunLines.count == 100)
    }

    @Test func answersReachAClientThatShutItsSideAfterWriting() throws {
        let fixture = try Fixture()
        let client = try fixture.connect()
        defer { close(client) }
        fixture.turn()
        let burst = Array(String(repeating: "big/print\n", count: 40).utf8)
        _ = burst.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(client, Int32(SHUT_WR))
        var received: [UInt8] = []
        var quietTurns = 0
        for _ in 0..<5_000 where quietTurns < 20 {
            fixture.turn()
            let chunk = fixture.drain(client)
            received += chunk
            quietTurns = chunk.isEmpty && fixture.runs == 40 ? quietTurns + 1 : 0
        }
        #expect(fixture.runs == 40)
        #expect(String(decoding: received, as: UTF8.self).components(separatedBy: "1000 Success\n").count == 41)
    }
}
