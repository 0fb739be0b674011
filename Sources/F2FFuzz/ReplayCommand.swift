#if !FUZZING
import F2FFuzzHarness
import Glibc

/// Without libFuzzer (the normal `swift build`): replays input files through one harness, so
/// a crash file from `Scripts/fuzz.sh` can be debugged in an ordinary build.
///
///     F2FFuzz --list
///     F2FFuzz TARGET FILE...           (or F2F_FUZZ_TARGET=TARGET F2FFuzz FILE...)
@main
struct ReplayCommand {
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--list"] {
            TargetSelection.printTargets()
            return
        }
        var harness = TargetSelection.fromEnvironment()
        if harness == nil, let first = arguments.first {
            harness = FuzzHarnesses.named(first)
            arguments.removeFirst()
        }
        guard let harness, !arguments.isEmpty else {
            printError("usage: F2FFuzz TARGET FILE... | F2FFuzz --list")
            exit(2)
        }
        for path in arguments {
            guard let bytes = readFile(path) else {
                printError("cannot read \(path)")
                exit(1)
            }
            bytes.withUnsafeBytes { harness.run($0) }
            print("\(harness.name): \(path) (\(bytes.count) bytes) ok")
        }
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }
}
#endif
