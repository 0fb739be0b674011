/// One row of the console's declarative command table.
public struct ConsoleCommand {
    /// Lines a printing command produces; they go inside the `0000 … .` data block.
    public typealias Handler = (_ argument: String) throws(ConsoleError) -> [String]

    public var path: String
    public var syntax: String
    public var help: String
    /// Printing commands always emit a data block, even when they then fail (vde_switch does).
    public var printsData: Bool
    public var handler: Handler

    public init(_ path: String, syntax: String = "", help: String, printsData: Bool = false, handler: @escaping Handler) {
        self.path = path
        self.syntax = syntax
        self.help = help
        self.printsData = printsData
        self.handler = handler
    }
}

/// A menu heading in `help` (vdeterm builds its completion tree from these); not executable.
public struct ConsoleMenu: Sendable {
    public var name: String
    public var title: String

    public init(_ name: String, title: String) {
        self.name = name
        self.title = title
    }
}
