import Foundation

/// Test fixtures in `Fixtures/`: hex pairs, `#` comments, first line names the capture source.
public enum Fixture {
    /// The repository's `Fixtures/` directory, found from this file's location.
    public static let directory: String = {
        var components = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Sources/F2FTesting/Fixture.swift
        return components.joined(separator: "/") + "/Fixtures"
    }()

    /// Bytes of a `.hex` fixture; traps on a malformed fixture (a bug in the repository, not input).
    public static func bytes(_ name: String) -> [UInt8] {
        parseHex(text(name))
    }

    public static func text(_ name: String) -> String {
        let path = directory + "/" + name
        guard let contents = readFile(path) else { preconditionFailure("missing fixture \(path)") }
        return contents
    }

    /// The first line (the capture source), without the `#`.
    public static func source(_ name: String) -> String {
        let firstLine = text(name).split(separator: "\n").first ?? ""
        return String(firstLine.drop { $0 == "#" || $0 == " " })
    }

    public static func parseHex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for line in text.split(separator: "\n") {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            for token in content.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                guard token.count == 2, let byte = UInt8(token, radix: 16) else {
                    preconditionFailure("bad hex token '\(token)' in fixture")
                }
                bytes.append(byte)
            }
        }
        return bytes
    }

    private static func readFile(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
