import Foundation
import Glibc

/// A real `f2f-switch` process in a private temporary directory, stopped and cleaned up by
/// `stop()` (or at deinit).
final class SwitchProcess {
    let workDirectory: String
    let socketDirectory: String
    let managementPath: String
    private let process = Process()
    private let errorPipe = Pipe()
    /// Where the log goes when it is not a pipe (`logToFile`): a pipe nobody reads fills after
    /// 64 KiB and then stops a switch that logs a lot, which would hide the flood.
    let logPath: String?
    private var stopped = false

    /// The binary next to the test bundle (`swift build` puts both in one folder), or $F2F_SWITCH_BIN.
    static let binaryPath: String = {
        if let path = ProcessInfo.processInfo.environment["F2F_SWITCH_BIN"] { return path }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the test runner may live inside the .xctest bundle directory.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("f2f-switch").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return "f2f-switch"
    }()

    /// Never the user's own key: a switch a test starts gets a fresh one in `directory`
    /// (without `--identity` it would create `~/.config/f2f-switch/identity`).
    static func identityArguments(in directory: String) -> [String] {
        ["--identity", directory + "/identity"]
    }

    /// - Parameters:
    ///   - launcher: a command that runs the switch (`prlimit --nofile=64:64 --`): it must
    ///     exec the switch, so that `pid` stays the switch's.
    ///   - prepare: runs on the work directory before the switch starts (files a test plants there).
    init(
        arguments extra: [String] = [], socketName: String = "sw", startTimeout: Duration = .seconds(10),
        launcher: [String] = [], logToFile: Bool = false, prepare: (_ workDirectory: String) throws -> Void = { _ in }
    ) throws {
        workDirectory = try TemporaryDirectory.make()
        try prepare(workDirectory)
        socketDirectory = workDirectory + "/" + socketName
        managementPath = workDirectory + "/mgmt"
        let identity = extra.contains("--identity") || extra.contains("--plaintext") ? [] : Self.identityArguments(in: workDirectory)
        let arguments = ["-s", socketDirectory, "-M", managementPath] + identity + extra
        if let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [Self.binaryPath] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binaryPath)
            process.arguments = arguments
        }
        if logToFile {
            let path = workDirectory + "/switch.log"
            logPath = path
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: path)
        } else {
            logPath = nil
            process.standardError = errorPipe
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        try waitUntil(timeout: startTimeout, "switch to create \(socketDirectory)/ctl and \(managementPath)") {
            guard process.isRunning else {
                throw TestFailure("f2f-switch exited during start-up: \(currentLog())")
            }
            return FileManager.default.fileExists(atPath: socketDirectory + "/ctl") && FileManager.default.fileExists(atPath: managementPath)
        }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// SIGTERM, wait for exit; returns the exit status and everything the switch logged.
    @discardableResult
    func stop(timeout: Duration = .seconds(10)) throws -> (status: Int32, log: String) {
        guard !stopped else { return (process.terminationStatus, "") }
        stopped = true
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        try waitUntil(timeout: timeout, "switch to exit") { !process.isRunning }
        return (process.terminationStatus, currentLog())
    }

    /// The log so far with `logToFile`; everything, once the switch has exited, with a pipe.
    func currentLog() -> String {
        if let logPath {
            return (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        }
        // `readDataToEndOfFile` traps on a read error; a test failure says more than a crash.
        let data = (try? errorPipe.fileHandleForReading.readToEnd()) ?? nil
        return String(decoding: data ?? Data(), as: UTF8.self)
    }

    /// User plus system CPU time the switch has used, from /proc/PID/stat.
    func cpuTime() throws -> Duration {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name, which is in parentheses and may contain spaces.
        guard let close = stat.lastIndex(of: ")") else { throw TestFailure("unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
        guard fields.count > 13, let user = Int64(fields[11]), let system = Int64(fields[12]) else {
            throw TestFailure("unreadable /proc/\(pid)/stat")
        }
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return .milliseconds((user + system) * 1000 / ticks)
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    func console() throws -> ConsoleClient {
        try ConsoleClient(path: managementPath)
    }

    /// Runs one console command and returns the lines of its data block.
    func command(_ line: String) throws -> ConsoleClient.Response {
        let client = try console()
        defer { client.close() }
        return try client.send(line)
    }

    func filesInSocketDirectory() -> [String] {
        // Without the owner-only `capture` socket every switch has (docs/packet-capture.md).
        ((try? FileManager.default.contentsOfDirectory(atPath: socketDirectory)) ?? []).filter { $0 != "capture" }.sorted()
    }

    deinit {
        if !stopped, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }
}

enum TemporaryDirectory {
    /// A short path: unix socket paths must fit in 108 bytes.
    static func make() throws -> String {
        var template = Array("/tmp/f2ft-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw TestFailure("mkdtemp: \(String(cString: strerror(errno)))") }
        return String(cString: result)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds (a deadline, not a sleep: returns as soon as it is true).
func waitUntil(timeout: Duration, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return }
        if ContinuousClock.now > deadline { throw TestFailure("timed out waiting for \(what)") }
        usleep(5_000)
    }
}
