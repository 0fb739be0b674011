import F2FFuzzHarness
import Glibc

/// Which harness this process runs: `F2F_FUZZ_TARGET` (libFuzzer owns the command line).
enum TargetSelection {
    static let environmentVariable = "F2F_FUZZ_TARGET"

    static func fromEnvironment() -> FuzzHarness? {
        guard let value = getenv(environmentVariable) else { return nil }
        return FuzzHarnesses.named(String(cString: value))
    }

    /// One line per harness: its name, then the `Fixtures/` folders that seed it
    /// (`Scripts/fuzz.sh` reads this, so the registry stays the only list).
    static func printTargets() {
        for harness in FuzzHarnesses.all {
            print(([harness.name] + harness.seedFixtureDirectories).joined(separator: " "))
        }
    }
}

/// A line on standard error (Glibc's `stderr` is a mutable global Swift 6 refuses).
func printError(_ line: String) {
    let text = line + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
}
