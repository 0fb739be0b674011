/// The management console's language, independent of any socket: `execute(line:)` turns one
/// command line into the exact text vdeterm/unixcmd expect (docs/vde-protocol.md 3).
public final class Console {
    public enum SessionAction: Equatable, Sendable {
        case none
        /// `logout`: close this session.
        case endSession
        /// `shutdown`: close the session and stop the switch.
        case shutdown
    }

    public struct Reply: Equatable, Sendable {
        public var text: String
        public var action: SessionAction

        public init(text: String, action: SessionAction) {
            self.text = text
            self.action = action
        }
    }

    public static let prompt = "\nvde$ "
    public static let endOfSession = "9999 END OF SESSION"
    public static let dataHeader = "0000 DATA END WITH '.'"

    public let banner: String
    private var menus: [ConsoleMenu] = []
    private var commands: [ConsoleCommand] = []
    private var commandIndex: [String: Int] = [:]

    public init(banner: String) {
        self.banner = banner
        addBuiltins()
    }

    /// The first text a session sees.
    public var greeting: String { banner + Self.prompt }

    public func addMenu(_ menu: ConsoleMenu) {
        menus.append(menu)
    }

    public func add(_ command: ConsoleCommand) {
        precondition(commandIndex[command.path] == nil, "console command \(command.path) registered twice")
        commandIndex[command.path] = commands.count
        commands.append(command)
    }

    /// Runs one line. Blank lines and `#` comments produce only the prompt.
    public func execute(line rawLine: String) -> Reply {
        run(line: rawLine).reply
    }

    /// `execute(line:)`, also telling whether the command failed and why: a start-up file
    /// (`--rcfile`) stops at its first failing line.
    public func run(line rawLine: String) -> (reply: Reply, failure: ConsoleError?) {
        let line = rawLine.drop { $0 == " " || $0 == "\t" }.trimmingSuffix { $0 == "\r" || $0 == "\n" || $0 == " " || $0 == "\t" }
        if line.isEmpty || line.hasPrefix("#") {
            return (Reply(text: Self.prompt, action: .none), nil)
        }
        let name = String(line.prefix { $0 != " " && $0 != "\t" })
        let argument = String(line.dropFirst(name.count).drop { $0 == " " || $0 == "\t" })
        switch name {
        case "logout": return (Reply(text: Self.endOfSession, action: .endSession), nil)
        case "shutdown": return (Reply(text: Self.endOfSession, action: .shutdown), nil)
        default: break
        }
        guard let index = commandIndex[name] else {
            return (Reply(text: Self.status(.failure(.notImplemented)) + Self.prompt, action: .none), .notImplemented)
        }
        let command = commands[index]
        var text = ""
        let result: Result<[String], ConsoleError>
        do {
            result = .success(try command.handler(argument))
        } catch {
            result = .failure(error)
        }
        if command.printsData {
            text += Self.dataHeader + "\n"
            if case .success(let lines) = result {
                for output in lines { text += output + "\n" }
            }
            text += ".\n"
        }
        text += Self.status(result.map { _ in () })
        let failure: ConsoleError? = if case .failure(let error) = result { error } else { nil }
        return (Reply(text: text + Self.prompt, action: .none), failure)
    }

    private static func status(_ result: Result<Void, ConsoleError>) -> String {
        switch result {
        case .success: "1000 Success\n"
        case .failure(let error): "1\(String(repeating: "0", count: max(0, 3 - String(error.code).count)))\(error.code) \(error.message)\n"
        }
    }

    private func addBuiltins() {
        add(ConsoleCommand("help", syntax: "[arg]", help: "Help (limited to arg when specified)", printsData: true) { [unowned self] prefix in
            helpLines(prefix: prefix)
        })
        add(ConsoleCommand("logout", help: "logout from this mgmt terminal") { _ in [] })
        add(ConsoleCommand("shutdown", help: "shutdown of the switch") { _ in [] })
    }

    private func helpLines(prefix: String) -> [String] {
        var lines = [
            Self.column("COMMAND PATH", 18) + " " + Self.column("SYNTAX", 15) + " HELP",
            Self.column("------------", 18) + " " + Self.column("------------", 15) + " ------------",
        ]
        var rows: [(String, String, String)] = commands.map { ($0.path, $0.syntax, $0.help) }
        rows += menus.map { ($0.name, "============", $0.title) }
        // Group each menu heading with its commands, builtins first as vde_switch lists them.
        rows.sort { lhs, rhs in
            let lhsGroup = lhs.0.split(separator: "/").first.map(String.init) ?? lhs.0
            let rhsGroup = rhs.0.split(separator: "/").first.map(String.init) ?? rhs.0
            let lhsBuiltin = !lhs.0.contains("/") && !menus.contains { $0.name == lhs.0 }
            let rhsBuiltin = !rhs.0.contains("/") && !menus.contains { $0.name == rhs.0 }
            if lhsBuiltin != rhsBuiltin { return lhsBuiltin }
            if lhsGroup != rhsGroup { return lhsGroup < rhsGroup }
            return lhs.0.count == lhsGroup.count || (rhs.0.count != rhsGroup.count && lhs.0 < rhs.0)
        }
        for (path, syntax, help) in rows where prefix.isEmpty || path.hasPrefix(prefix) {
            lines.append(Self.column(path, 18) + " " + Self.column(syntax, 15) + " " + help)
        }
        return lines
    }

    static func column(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

extension Substring {
    func trimmingSuffix(while shouldTrim: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex, shouldTrim(self[index(before: end)]) { end = index(before: end) }
        return self[startIndex..<end]
    }
}
