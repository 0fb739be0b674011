/// Console commands read from a file, vde_switch's rc file (`-f`): one per line, run in order
/// through the console the management socket serves. Unlike vde_switch, which goes on past a
/// failing line without a word, a failing line stops the script: a switch half-configured (a
/// VLAN missing, a port in the wrong one) would otherwise run as if all were well.
public enum ConsoleScript {
    public struct Line: Equatable, Sendable {
        /// From 1, as an editor numbers the file's lines.
        public var number: Int
        public var text: String

        public init(number: Int, text: String) {
            self.number = number
            self.text = text
        }
    }

    /// The first line that failed, with its number and the console's status.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var source: String
        public var line: Line
        public var error: ConsoleError

        public init(source: String, line: Line, error: ConsoleError) {
            self.source = source
            self.line = line
            self.error = error
        }

        public var description: String {
            "\(source):\(line.number): '\(line.text)': 1\(String(repeating: "0", count: max(0, 3 - String(error.code).count)))\(error.code) \(error.message)"
        }
    }

    /// What the script asked for besides its settings.
    public enum Outcome: Equatable, Sendable {
        case completed
        /// A `shutdown` line (the lines after it are not run): the switch stops, as vde_switch
        /// exits there.
        case shutdown
    }

    /// The command lines, numbered; blank lines and `#` comments (after leading blanks) are
    /// left out, as vde_switch's console skips them.
    public static func lines(in text: String) -> [Line] {
        var lines: [Line] = []
        // `isNewline`: a file edited on Windows ends its lines in "\r\n", one Character.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = raw.drop { $0 == " " || $0 == "\t" }.trimmingSuffix { $0 == " " || $0 == "\t" }
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            lines.append(Line(number: index + 1, text: String(trimmed)))
        }
        return lines
    }

    /// Runs the lines in order; the first that fails stops the rest. `logout` ends the script
    /// early, as it ends a console session. What commands print is dropped, as vde_switch
    /// drops it (a script has no terminal).
    public static func run(_ text: String, source: String, on console: Console) throws(Failure) -> Outcome {
        for line in lines(in: text) {
            let (reply, failure) = console.run(line: line.text)
            if let failure { throw Failure(source: source, line: line, error: failure) }
            switch reply.action {
            case .none: continue
            case .endSession: return .completed
            case .shutdown: return .shutdown
            }
        }
        return .completed
    }
}
