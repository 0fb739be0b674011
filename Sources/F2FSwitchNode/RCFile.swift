import F2FPosix
import SwitchRuntime
import VDEServer

/// `-f`/`--rcfile FILE`: vde_switch's start-up file of console commands (ConsoleScript).
public enum RCFile {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads and runs the file. It must be the user's (or root's) and writable by nobody else:
    /// its lines can remove ports or shut the switch down, as the friends file decides who links.
    public static func run(_ path: String, on console: Console) throws(Failure) -> ConsoleScript.Outcome {
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
