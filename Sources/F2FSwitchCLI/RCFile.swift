import F2FPosix
import VDEServer

/// `-f`/`--rcfile FILE`: vde_switch's start-up file of console commands (ConsoleScript).
enum RCFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads and runs the file. It must be the user's (or root's) and writable by nobody else:
    /// its lines can remove ports or shut the switch down, as the friends file decides who links.
    static func run(_ path: String, on console: Console) throws(Failure) -> ConsoleScript.Outcome {
        let text: String
        do {
            text = try FileSystem.readTrustedText(path)
        } catch {
            throw Failure(description: "rcfile: \(error)")
        }
        do {
            return try ConsoleScript.run(text, source: path, on: console)
        } catch {
            throw Failure(description: "rcfile \(error)")
        }
    }
}
