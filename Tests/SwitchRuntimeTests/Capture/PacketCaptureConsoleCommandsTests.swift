import EthernetSwitch
import F2FPosix
import F2FTesting
import Foundation
import Logging
import Testing

@testable import SwitchRuntime

/// `pcap/start`, `pcap/stop`, `pcap/print` as the console runs them: syntax, the port or
/// friend they name, the file they refuse to overwrite.
@Suite struct PacketCaptureConsoleCommandsTests {
    let loop = ManualEventLoop()
    let engine: SwitchEngine
    let console = Console(banner: "test")
    let directory: String

    init() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        engine = SwitchEngine(configuration: SwitchConfiguration(portCount: 8), loop: loop, logger: logger)
        engine.attach(RecordingLink("a", id: 1), port: 1)
        engine.attach(RecordingLink("friend", id: 2), port: 6)
        directory = try DirectoryHandle.createPrivateTemporary(prefix: "/tmp/f2f-metrics-console.")
        PacketCaptureConsoleCommands.register(on: console, engine: engine) { name in name == "alice" ? 6 : nil }
    }

    func status(_ line: String) -> String {
        let text = console.execute(line: line).text
        return String(text.split(separator: "\n").first { $0.hasPrefix("1") && $0.count > 4 } ?? "")
    }

    @Test func startPrintAndStopAPortAndAFriend() {
        #expect(status("pcap/start 1 \(directory)/one.pcap") == "1000 Success")
        #expect(status("pcap/start peer alice \(directory)/alice.pcap 4096") == "1000 Success")
        let printed = console.execute(line: "pcap/print").text
        #expect(printed.contains("Port 1 \(directory)/one.pcap recording frames 0 bytes 24/\(PacketCapture.defaultMaximumBytes) dropped 0\n"))
        #expect(printed.contains("Port 6 \(directory)/alice.pcap recording frames 0 bytes 24/4096 dropped 0\n"))
        #expect(status("pcap/stop peer alice") == "1000 Success")
        #expect(status("pcap/stop 1") == "1000 Success")
        #expect(status("pcap/stop 1") == "1019 No such device")
        #expect(engine.capture(at: 1) == nil && engine.capture(at: 6) == nil)
    }

    @Test(arguments: [
        ("pcap/start", "1022 Invalid argument"), ("pcap/start 1", "1022 Invalid argument"),
        ("pcap/start 9 /tmp/x", "1022 Invalid argument"), ("pcap/start x /tmp/x", "1022 Invalid argument"),
        ("pcap/start 1 /tmp/x 10", "1022 Invalid argument"), ("pcap/start 1 /tmp/x 100 extra", "1022 Invalid argument"),
        ("pcap/start peer", "1022 Invalid argument"), ("pcap/start peer bob /tmp/x", "1006 No such device or address"),
        ("pcap/stop", "1022 Invalid argument"), ("pcap/stop 1 2", "1022 Invalid argument"), ("pcap/stop peer bob", "1006 No such device or address"),
    ])
    func badArgumentsAreRefused(line: String, expected: String) {
        #expect(status(line) == expected)
        #expect(engine.capture(at: 1) == nil)
    }

    @Test func fileRefusals() throws {
        let existing = directory + "/existing"
        #expect(FileManager.default.createFile(atPath: existing, contents: Data("keep".utf8)))
        #expect(status("pcap/start 1 \(existing)") == "1017 File exists")
        #expect(status("pcap/start 1 \(directory)/missing/x.pcap") == "1002 No such file or directory")
        #expect(status("pcap/start 1 \(directory)/one.pcap") == "1000 Success")
        #expect(status("pcap/start 1 \(directory)/two.pcap") == "1098 Address already in use")
        #expect(!FileManager.default.fileExists(atPath: directory + "/two.pcap"), "nothing created for a refused start")
    }
}
