import Foundation
import Glibc
import F2FPosix
import Synchronization

/// A helper program (vde_plug, vde_switch, unixcmd) run for a test and killed by PID after it.
final class ChildProcess {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()

    /// `environment` replaces the test's own (nil inherits it).
    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let candidates = executable.contains("/") ? [executable] : ["/usr/bin/", "/usr/sbin/", "/bin/"].map { $0 + executable }
        let path = candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw TestFailure("\(executable) is not installed (Scripts/test installs it)") }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try ProcessLaunch.run(process)
    }

    /// Everything written to stderr (after exit).
    var errorText: String {
        String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Waits for exit and returns stdout.
    func finish(timeout: Duration = .seconds(10)) throws -> (status: Int32, output: String) {
        try waitUntil(timeout: timeout, "\(process.executableURL?.lastPathComponent ?? "child") to exit") { !process.isRunning }
        return (process.terminationStatus, String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    /// SIGTERM to the process and its children (dpipe blocks SIGTERM and waits for the two
    /// programs it joined), SIGKILL for whatever is still there after two seconds.
    func terminate() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8))?
            .split(separator: " ").compactMap { Int32($0) } ?? []
        for child in children { kill(child, SIGTERM) }
        kill(pid, SIGTERM)
        if (try? waitUntil(timeout: .seconds(2), "\(pid) to exit", { !process.isRunning })) == nil {
            for child in children { kill(child, SIGKILL) }
            kill(pid, SIGKILL)
        }
        process.waitUntilExit()
    }

    deinit {
        terminate()
    }
}

/// `vde_plug URL` with no second URL speaks the 2-byte big-endian length stream on stdin/stdout.
final class VdePlugStream {
    let child: ChildProcess
    private var pending: [UInt8] = []

    init(url: String) throws {
        child = try ChildProcess("vde_plug", [url])
    }

    func send(_ frame: [UInt8]) {
        let header = [UInt8(frame.count >> 8), UInt8(frame.count & 0xFF)]
        child.input.fileHandleForWriting.write(Data(header + frame))
    }

    /// The next frame, passing over the switch's spanning tree hellos.
    func receive(timeout: Duration = .seconds(5)) throws -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        while let frame = try receiveAny(timeout: max(.zero, deadline - ContinuousClock.now)) {
            if !TestClient.isBPDU(frame) { return frame }
        }
        return nil
    }

    private func receiveAny(timeout: Duration) throws -> [UInt8]? {
        let fd = child.output.fileHandleForReading.fileDescriptor
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if pending.count >= 2 {
                let length = Int(pending[0]) << 8 | Int(pending[1])
                if pending.count >= 2 + length {
                    let frame = Array(pending[2..<(2 + length)])
                    pending.removeFirst(2 + length)
                    return frame
                }
            }
            guard ContinuousClock.now < deadline else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { return nil }
            pending += buffer[..<count]
        }
    }
}

/// Every process a test starts is started through here, one at a time. Suites run in
/// parallel, and Foundation's `Process.run()` racing another launch has handed one switch's
/// stderr pipe to another process (a start-up failure reported with a stranger's log).
/// Never while in-process code (unit tests of socket creation) has the file-creation mask
/// changed for one socket: children would inherit it.
enum ProcessLaunch {
    private static let lock = Mutex<Void>(())

    static func run(_ process: Process) throws {
        try lock.withLock { _ in
            try FileSystem.withUnchangedCreationMask { () throws(any Error) in try process.run() }
        }
    }

    /// `system(3)`, likewise one launch at a time (its daemons would keep what leaked to them).
    static func system(_ command: String) -> Int32 {
        lock.withLock { _ in FileSystem.withUnchangedCreationMask { Glibc.system(command) } }
    }
}
