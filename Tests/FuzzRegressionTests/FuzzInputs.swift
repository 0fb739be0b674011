import F2FFuzzHarness
import F2FTesting
import Foundation

/// Every input a harness is replayed on: its seed fixtures (`Fixtures/<dir>/*.hex`) and every
/// file in `Fixtures/fuzz/<target>/` (`.hex` written by hand, anything else raw bytes as
/// libFuzzer saved them: `crash-…`, `timeout-…`, `oom-…`, `seed-…`).
struct FuzzInput {
    var name: String
    var bytes: [UInt8]

    static func all(for harness: FuzzHarness) -> [FuzzInput] {
        var inputs: [FuzzInput] = []
        for directory in harness.seedFixtureDirectories {
            for file in files(in: directory) where file.hasSuffix(".hex") {
                inputs.append(FuzzInput(name: directory + "/" + file, bytes: Fixture.bytes(directory + "/" + file)))
            }
        }
        for file in files(in: harness.regressionDirectory) {
            let name = harness.regressionDirectory + "/" + file
            if file.hasSuffix(".hex") {
                inputs.append(FuzzInput(name: name, bytes: Fixture.bytes(name)))
            } else if let data = FileManager.default.contents(atPath: Fixture.directory + "/" + name) {
                inputs.append(FuzzInput(name: name, bytes: [UInt8](data)))
            }
        }
        return inputs
    }

    /// Sorted for a stable order; dotfiles and folders are not inputs.
    private static func files(in directory: String) -> [String] {
        let path = Fixture.directory + "/" + directory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }
}
