import ArgumentParser
import F2FPosix
import F2FSwitchNode

/// `f2f-switch network-key FILE`: makes a new random network key, to be copied (privately)
/// to every node of the network.
struct NetworkKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network-key", abstract: "Create a random network key file for --network-key (never overwrites one).")

    @Argument(help: "The file to create (mode 0600).")
    var path: String

    func run() throws {
        do {
            try NetworkKeyFile.create(path)
        } catch {
            ProcessEnvironment.writeToStandardError("f2f-switch: \(error)\n")
            throw ExitCode.failure
        }
    }
}
