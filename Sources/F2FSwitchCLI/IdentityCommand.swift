import ArgumentParser
import F2FPosix
import F2FSwitchNode

/// `f2f-switch id`: prints this node's public id (creating the key on first use), the string
/// friends pass to `--friend` or pin with `--peer ID@HOST:PORT`.
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id", abstract: "Print this node's public id (creates the identity key on first use).")

    /// `--identity` belongs to the switch's options; `f2f-switch id --identity FILE` reaches it here.
    @ParentCommand var switchCommand: F2FSwitchCommand

    @Flag(name: .customLong("checked"), help: "Print the id in groups with check characters (a typo in it is caught), as people copy it.")
    var checked = false

    func run() throws {
        do {
            let path = try switchCommand.options.settings.resolvedIdentityPath()
            let (key, created) = try IdentityStore.loadOrCreate(at: path)
            if created { ProcessEnvironment.writeToStandardError("created identity \(path)\n") }
            print(checked ? key.id.checkedDescription : key.id.description)
        } catch {
            ProcessEnvironment.writeToStandardError("f2f-switch: \(error)\n")
            throw ExitCode.failure
        }
    }
}


