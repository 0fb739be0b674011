import ArgumentParser
import Glibc

/// `f2f-switch id`: prints this node's public id (creating the key on first use), the string
/// friends pass to `--friend` or pin with `--peer ID@HOST:PORT`.
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id", abstract: "Print this node's public id (creates the identity key on first use).")

    /// `--identity` belongs to the switch's options; `f2f-switch id --identity FILE` reaches it here.
    @ParentCommand var switchCommand: F2FSwitchCommand

    func run() throws {
        let path = switchCommand.options.resolvedIdentityPath
        do {
            let (key, created) = try IdentityStore.loadOrCreate(at: path)
            if created { printError("created identity \(path)") }
            print(key.id)
        } catch {
            printError("f2f-switch: \(error)")
            throw ExitCode.failure
        }
    }
}

func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = fwriteToStandardError($0) }
}

private func fwriteToStandardError(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    Glibc.write(2, bytes.baseAddress, bytes.count)
}
