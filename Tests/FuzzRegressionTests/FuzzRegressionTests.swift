import F2FFuzzHarness
import Foundation
import Testing

/// Replays every seed and every input the fuzzer ever found through the same harness functions
/// libFuzzer runs. A harness traps on a broken invariant, so each target runs in an exit test:
/// a trap fails that target (with the input's name on stderr) instead of killing the runner.
@Suite struct FuzzRegressionTests {
    static let targets = FuzzHarnesses.all.map(\.name)

    @Test(arguments: targets)
    func replaysSeedsAndFoundInputs(_ target: String) async throws {
        let harness = try #require(FuzzHarnesses.named(target))
        let inputs = FuzzInput.all(for: harness)
        #expect(!inputs.isEmpty, "no inputs for \(target): add Fixtures/\(harness.regressionDirectory)/seed-*")

        let passed = await #expect(processExitsWith: .success) { [target] in
            FuzzRegressionTests.replayAllOrExit(target)
        } != nil
        if !passed {
            // A failed exit test reports no output: run it again to show which input trapped and why.
            let rerun = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [target] in
                FuzzRegressionTests.replayAllOrExit(target)
            }
            if let rerun {
                Issue.record("\(target): stderr of the failing replay:\n\(String(decoding: rerun.standardErrorContent, as: UTF8.self))")
            }
        }
    }

    @Test func everyTargetHasADistinctName() {
        #expect(Set(Self.targets).count == Self.targets.count)
    }

    /// Runs in the exit test's child process: names each input on stderr before running it,
    /// so the last name before a trap is the culprit. Zero inputs exits non-zero too, so the
    /// child can never pass without running anything.
    static func replayAllOrExit(_ target: String) {
        guard let harness = FuzzHarnesses.named(target) else { exit(2) }
        let inputs = FuzzInput.all(for: harness)
        for input in inputs {
            FileHandle.standardError.write(Data("replaying \(input.name) (\(input.bytes.count) bytes)\n".utf8))
            input.bytes.withUnsafeBytes { harness.run($0) }
        }
        if inputs.isEmpty { exit(3) }
    }
}
