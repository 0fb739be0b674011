import ArgumentParser
import F2FPosix

/// `f2f-switch capture DIR PORT`: streams a port's frames as pcap to standard output, so
/// `f2f-switch capture DIR 3 | tcpdump -r -` shows them live (vde's pcap plug, without a tap).
/// It asks the switch on DIR/capture (owner-only) and relays what the switch sends until
/// either side stops (docs/packet-capture.md).
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture", abstract: "Stream what a port (or a friend's link) sends and receives to standard output as pcap.")

    @Argument(help: "The switch's socket directory (its -s/--sock).")
    var directory: String

    @Argument(help: "A port number, or 'peer NAME' (a friend's name or id) as two words.")
    var target: [String]

    func validate() throws {
        guard target.count == 1 || (target.count == 2 && target[0] == "peer") else {
            throw ValidationError("expected PORT or 'peer NAME'")
        }
    }

    func run() throws {
        ProcessEnvironment.ignoreBrokenPipes()
        do {
            let socket = try BlockingStream.connect(path: directory + "/capture")
            try BlockingStream.writeAll(socket.rawValue, target.joined(separator: " ") + "\n")
            guard let answer = try BlockingStream.readLine(socket.rawValue) else {
                ProcessEnvironment.writeToStandardError("f2f-switch capture: the switch closed the connection\n")
                throw ExitCode.failure
            }
            guard answer == "ok" else {
                ProcessEnvironment.writeToStandardError("f2f-switch capture: \(answer.hasPrefix("error ") ? String(answer.dropFirst(6)) : answer)\n")
                throw ExitCode.failure
            }
            try BlockingStream.copyToStandardOutput(from: socket.rawValue)
        } catch let error as SystemError {
            ProcessEnvironment.writeToStandardError("f2f-switch capture: \(error)\n")
            throw ExitCode.failure
        }
    }
}
