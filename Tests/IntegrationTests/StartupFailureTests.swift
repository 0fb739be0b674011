import Foundation
import Glibc
import Testing

/// A switch that cannot set up what it was asked for stops at once with one log line, leaves
/// nothing behind, and starts once the obstacle is gone (or with `--no-udp`, for UDP).
@Suite struct StartupFailureTests {
    /// Binds a UDP socket on 127.0.0.1:port, as another program holding the port would.
    static func holdUDPPort(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound else {
            close(fd)
            throw TestFailure("cannot hold UDP port \(port)")
        }
        return fd
    }

    @Test func aUDPPortInUseStopsTheStartWithOneLine() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let port = try TCPPorts.free()
        let held = try Self.holdUDPPort(port)
        defer { close(held) }
        let arguments = ["-s", work + "/sw", "--listen", "127.0.0.1:\(port)"] + SwitchProcess.identityArguments(in: work)

        let refused = try ChildProcess(SwitchProcess.binaryPath, arguments)
        let (status, _) = try refused.finish(timeout: .seconds(10))
        let errors = refused.errorText
        #expect(status == 1)
        #expect(errors.contains("cannot start: bind UDP on 127.0.0.1:\(port)"), "\(errors)")
        #expect(!errors.contains("Error:"))
        #expect(!FileManager.default.fileExists(atPath: work + "/sw/ctl"))

        // The TCP side of the port was free all along: without UDP the switch serves on it.
        let tcpOnly = try ChildProcess(SwitchProcess.binaryPath, arguments + ["--no-udp"])
        defer { tcpOnly.terminate() }
        try waitUntil(timeout: .seconds(10), "the switch with --no-udp to serve") {
            guard tcpOnly.process.isRunning else { throw TestFailure("switch exited: \(tcpOnly.errorText)") }
            return FileManager.default.fileExists(atPath: work + "/sw/ctl")
        }
    }
}
