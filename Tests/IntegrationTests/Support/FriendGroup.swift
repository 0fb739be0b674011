import Foundation

/// Identities for switches that should be friends of each other: member `i` gets its own key
/// file and `--friend` for every other member. Keys are made by the real `f2f-switch id`.
final class FriendGroup {
    let directory: String
    let keyPaths: [String]
    let ids: [String]

    init(count: Int) throws {
        let directory = try TemporaryDirectory.make()
        self.directory = directory
        keyPaths = (0..<count).map { "\(directory)/key\($0)" }
        ids = try keyPaths.map(FriendGroup.createIdentity)
    }

    /// Arguments that give switch `index` its identity and admit every other member.
    func member(_ index: Int) -> [String] {
        ["--identity", keyPaths[index]] + ids.indices.filter { $0 != index }.flatMap { ["--friend", ids[$0]] }
    }

    /// Arguments that give switch `index` its identity and admit only `neighbours`: in a line or
    /// a ring, friends of a friend who are not friends themselves are never introduced and
    /// never link directly, so the topology stays the one the test built.
    func member(_ index: Int, friendsWith neighbours: [Int]) -> [String] {
        ["--identity", keyPaths[index]] + neighbours.flatMap { ["--friend", ids[$0]] }
    }

    /// `ID@127.0.0.1:PORT`: a peer line that also pins who must answer.
    func pinned(_ index: Int, port: UInt16) -> String {
        "\(ids[index])@127.0.0.1:\(port)"
    }

    /// Runs `f2f-switch id --identity PATH` and returns the id it prints.
    static func createIdentity(at path: String) throws -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: SwitchProcess.binaryPath)
        process.arguments = ["id", "--identity", path]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try ProcessLaunch.run(process)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, id.count == 52 else { throw TestFailure("f2f-switch id printed '\(text)'") }
        return id
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
