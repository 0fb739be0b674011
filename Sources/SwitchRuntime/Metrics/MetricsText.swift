/// Writes the Prometheus text exposition format, version 0.0.4: one `# HELP` and `# TYPE`
/// line per family, then its samples, `name{label="value",…} value`, each line ending in
/// `\n`. Label values and help text are escaped as the format asks (a backslash, a double
/// quote in label values, a line feed), so a peer named `a"b\n` cannot forge a sample.
public struct MetricsText {
    public enum Kind: String, Sendable {
        case counter, gauge, untyped
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public private(set) var text = ""

    public init() {}

    /// Starts a family; every sample that follows until the next family belongs to it.
    public mutating func family(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(Self.escapedHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: UInt64) {
        writeName(name, labels)
        text += String(value)
        text += "\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        writeName(name, labels)
        text += String(value)
        text += "\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        writeName(name, labels)
        text += Self.formatted(value)
        text += "\n"
    }

    private mutating func writeName(_ name: String, _ labels: [(String, String)]) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (index, (label, value)) in labels.enumerated() {
                if index > 0 { text += "," }
                text += label
                text += "=\""
                text += Self.escapedLabelValue(value)
                text += "\""
            }
            text += "}"
        }
        text += " "
    }

    /// Go's `strconv.ParseFloat` forms the format allows: `+Inf`, `-Inf`, `NaN`, else decimal.
    static func formatted(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return String(value)
    }

    static func escapedLabelValue(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" || $0 == "\r\n" }) else { return value }
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// Help text escapes only a backslash and a line feed.
    static func escapedHelp(_ help: String) -> String {
        var escaped = ""
        for scalar in help.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
