import EthernetSwitch
import F2FBase
import F2FPosix
import F2FTesting
import Foundation
import Logging
import Testing

@testable import SwitchRuntime

/// Captures on the engine and the manual loop: both directions of one port, in pcap form,
/// bounded, and nothing for the ports not captured.
@Suite struct PacketCaptureTests {
    let loop = ManualEventLoop()
    let engine: SwitchEngine
    let a = RecordingLink("a", id: 1)
    let b = RecordingLink("b", id: 2)
    let c = RecordingLink("c", id: 3)
    let directory: String

    init() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        engine = SwitchEngine(configuration: SwitchConfiguration(portCount: 8), loop: loop, logger: logger)
        engine.attach(a, port: 1)
        engine.attach(b, port: 2)
        engine.attach(c, port: 3)
        directory = try DirectoryHandle.createPrivateTemporary(prefix: "/tmp/f2f-metrics-pcap.")
    }

    func send(_ frame: [UInt8], from port: Int) {
        frame.withUnsafeBytes { engine.receive($0, from: port) }
        loop.runAfterDispatch()
    }

    func startFileCapture(port: Int, name: String, maximumBytes: Int = PacketCapture.defaultMaximumBytes) throws -> (PacketCapture, String) {
        let path = directory + "/" + name
        let capture = PacketCapture(destination: .file(path), descriptor: try FileSystem.createNewPrivateFile(path), maximumBytes: maximumBytes, loop: loop)
        #expect(engine.startCapture(capture, port: port) == nil)
        return (capture, path)
    }

    /// The records written once the capture's flush delay has passed and its writer thread
    /// has written what it was handed.
    func records(_ path: String, of capture: PacketCapture) throws -> [(seconds: UInt32, microseconds: UInt32, bytes: [UInt8])] {
        loop.advance(by: PacketCapture.flushDelay)
        capture.waitUntilWritten()
        return try Self.records(path)
    }

    /// The records of a pcap file: (seconds, microseconds, bytes).
    static func records(_ path: String) throws -> [(seconds: UInt32, microseconds: UInt32, bytes: [UInt8])] {
        let data = try #require(FileManager.default.contents(atPath: path))
        let bytes = [UInt8](data)
        try #require(bytes.count >= 24)
        #expect(Array(bytes[0..<4]) == [0xD4, 0xC3, 0xB2, 0xA1])
        #expect(bytes.span.littleEndianUInt16(at: 4) == 2 && bytes.span.littleEndianUInt16(at: 6) == 4)
        #expect(bytes.span.littleEndianUInt32(at: 20) == 1, "link type Ethernet")
        var records: [(UInt32, UInt32, [UInt8])] = []
        var offset = 24
        while offset < bytes.count {
            try #require(offset + 16 <= bytes.count)
            let captured = Int(bytes.span.littleEndianUInt32(at: offset + 8))
            #expect(bytes.span.littleEndianUInt32(at: offset + 12) == UInt32(captured))
            try #require(offset + 16 + captured <= bytes.count)
            records.append((bytes.span.littleEndianUInt32(at: offset), bytes.span.littleEndianUInt32(at: offset + 4), Array(bytes[(offset + 16)..<(offset + 16 + captured)])))
            offset += 16 + captured
        }
        return records
    }

    @Test func bothDirectionsOfThePortAreWrittenInOrder() throws {
        let (capture, path) = try startFileCapture(port: 1, name: "one.pcap")
        let request = EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0x0200_0000_00BB, tag: 1)
        send(request, from: 1)
        loop.advance(by: .milliseconds(3))
        let reply = EngineOnManualLoopTests.frame(from: 0x0200_0000_00BB, to: 0x0200_0000_00AA, tag: 2)
        send(reply, from: 2)
        // Port 3 talks to port 2 only: not port 1's traffic.
        send(EngineOnManualLoopTests.frame(from: 0x0200_0000_00CC, to: 0x0200_0000_00BB, tag: 3), from: 3)
        let written = try records(path, of: capture)
        #expect(written.map(\.bytes) == [request, reply])
        #expect(capture.frameCount == 2)
        let first = Int64(written[0].seconds) * 1_000_000 + Int64(written[0].microseconds)
        let second = Int64(written[1].seconds) * 1_000_000 + Int64(written[1].microseconds)
        #expect(second - first == 3000, "timestamps follow the loop's clock")
        let now = WallClock.now().seconds
        #expect(abs(Int64(written[0].seconds) - now) < 60, "calendar time")
    }

    func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? -1
    }

    /// No write per frame or per batch: frames gather in a chunk until it is full or the
    /// flush delay has passed, and only then go to the writer thread.
    @Test func framesAreWrittenInBulkOrAfterTheDelay() throws {
        let (capture, path) = try startFileCapture(port: 1, name: "bulk.pcap")
        loop.advance(by: PacketCapture.flushDelay)
        capture.waitUntilWritten()
        #expect(try fileSize(path) == 24)
        let frame = EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: 1)
        send(frame, from: 1)
        loop.advance(by: PacketCapture.flushDelay / 2)
        capture.waitUntilWritten()
        #expect(try fileSize(path) == 24, "not yet")
        loop.advance(by: PacketCapture.flushDelay / 2)
        capture.waitUntilWritten()
        #expect(try fileSize(path) == 24 + 76)
        // A full chunk goes out at once, without waiting for the timer: the frame that does
        // not fit hands over the ones that did.
        let perFrame = 16 + frame.count
        let fitting = BackgroundWriter.chunkSize / perFrame
        for _ in 0...fitting { send(frame, from: 1) }
        capture.waitUntilWritten()
        #expect(try fileSize(path) == 24 + 76 + fitting * perFrame)
        #expect(capture.droppedCount == 0)
    }

    /// A destination that takes nothing (a stream's reader that does not read) holds the
    /// writer thread, never the loop: once every chunk waits, frames are dropped and counted,
    /// and what was taken is still a well-formed pcap stream when the reader comes back.
    @Test func aStalledDestinationDropsFramesAndNeverBlocksTheLoop() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        let reader = Descriptor(taking: pair[1])
        let capture = PacketCapture(destination: .stream, descriptor: Descriptor(taking: pair[0]), maximumBytes: Int.max, loop: loop)
        #expect(engine.startCapture(capture, port: 1) == nil)
        let frame = EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: 1) + [UInt8](repeating: 7, count: 1454)
        // More than the chunks and the socket's buffer hold together.
        let sent = (PacketCapture.chunkCount * BackgroundWriter.chunkSize + (4 << 20)) / (16 + frame.count)
        for _ in 0..<sent { send(frame, from: 1) }
        #expect(capture.droppedCount > 0)
        #expect(capture.frameCount + capture.droppedCount == UInt64(sent))
        #expect(capture.state == .recording)
        #expect(dataFrames(b).count == sent, "forwarding goes on")

        // The reader comes back: every frame taken arrives, whole, after the file header.
        capture.flush()
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while received.count < capture.byteCount {
            let count = chunk.withUnsafeMutableBytes { read(reader.rawValue, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            received += chunk[..<count]
        }
        #expect(received.count == capture.byteCount)
        _ = engine.stopCapture(port: 1)
        let path = directory + "/stalled.pcap"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(received)))
        let records = try Self.records(path)
        #expect(UInt64(records.count) == capture.frameCount)
        #expect(records.filter { $0.bytes == frame }.count == sent - Int(capture.droppedCount))
    }

    @Test func theFileStopsAtItsBound() throws {
        // Room for the header and two 60-byte frames (76 bytes each with their record header).
        let (capture, path) = try startFileCapture(port: 1, name: "bounded.pcap", maximumBytes: 24 + 2 * 76 + 75)
        for tag in UInt8(1)...5 {
            send(EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: tag), from: 1)
        }
        #expect(try records(path, of: capture).count == 2)
        #expect(capture.state == .full)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 24 + 2 * 76)
        #expect(dataFrames(b).count == 5, "forwarding goes on")
    }

    func dataFrames(_ link: RecordingLink) -> [[UInt8]] {
        link.flushed.filter { $0[0] & 1 == 0 || $0[0] == 0xFF }
    }

    @Test func stopEndsTheCaptureAndFreesThePort() throws {
        let (_, path) = try startFileCapture(port: 2, name: "stopped.pcap")
        send(EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: 1), from: 1)
        let stopped = try #require(engine.stopCapture(port: 2))
        #expect(stopped.state == .stopped)
        send(EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: 2), from: 1)
        #expect(try records(path, of: stopped).count == 1)
        #expect(engine.capture(at: 2) == nil)
        #expect(engine.stopCapture(port: 2) == nil)
    }

    @Test func aPortTakesOneCaptureInRange() throws {
        _ = try startFileCapture(port: 1, name: "first.pcap")
        let path = directory + "/second.pcap"
        let second = PacketCapture(destination: .file(path), descriptor: try FileSystem.createNewPrivateFile(path), loop: loop)
        #expect(engine.startCapture(second, port: 1) == .alreadyCaptured)
        #expect(engine.startCapture(second, port: 8) == .noSuchPort)
    }

    /// Like a mirror on a hardware port: the capture belongs to the port number, and goes on
    /// across clients leaving and attaching.
    @Test func aCaptureOutlivesThePortsClients() throws {
        let (capture, path) = try startFileCapture(port: 3, name: "port3.pcap")
        engine.detach(port: 3, reason: "test")
        #expect(capture.state == .recording)
        let broadcast = EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: 1)
        send(broadcast, from: 1)
        let next = RecordingLink("d", id: 4)
        engine.attach(next, port: 3)
        let second = EngineOnManualLoopTests.frame(from: 0x0200_0000_00AA, to: 0xFFFF_FFFF_FFFF, tag: 2)
        send(second, from: 1)
        #expect(try records(path, of: capture).map(\.bytes).filter { $0[0] == 0xFF } == [second])
        #expect(engine.capture(at: 3) === capture)
    }

    @Test func anExistingFileOrALinkIsNeverWrittenThrough() throws {
        let path = directory + "/exists"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("precious".utf8)))
        #expect(throws: SystemError.self) { _ = try FileSystem.createNewPrivateFile(path) }
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/target")
        #expect(throws: SystemError.self) { _ = try FileSystem.createNewPrivateFile(directory + "/link") }
        #expect(!FileManager.default.fileExists(atPath: directory + "/target"))
        #expect(String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) == "precious")
    }

    @Test func theFileIsOwnerOnly() throws {
        let (_, path) = try startFileCapture(port: 1, name: "mode.pcap")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

@Suite struct PcapFormatTests {
    @Test func fileHeaderBytes() {
        var bytes: [UInt8] = []
        PcapFormat.appendFileHeader(into: &bytes)
        #expect(bytes == [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0, 0])
    }

    @Test func recordHeaderStoredInPlaceMatchesTheAppendedOne() {
        var appended: [UInt8] = []
        PcapFormat.appendRecordHeader(into: &appended, microseconds: 1_700_000_000_123_456, count: 1514)
        #expect(appended == [0x00, 0xF1, 0x53, 0x65, 0x40, 0xE2, 0x01, 0x00, 0xEA, 0x05, 0, 0, 0xEA, 0x05, 0, 0])
        var stored = [UInt8](repeating: 0xAA, count: 17)
        stored.withUnsafeMutableBytes { PcapFormat.storeRecordHeader(at: $0.baseAddress! + 1, microseconds: 1_700_000_000_123_456, count: 1514) }
        #expect(Array(stored[1...]) == appended)
        #expect(stored[0] == 0xAA)
    }
}
