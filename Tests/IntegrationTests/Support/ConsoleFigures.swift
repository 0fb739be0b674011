/// Figures read out of console lines such as ` path udp 127.0.0.1:4000 rtt 3 loss 0 fallbacks 1`.

/// The integer after `word` (words split on spaces); nil when the word or a number after it is missing.
func number(after word: String, in line: String) -> Int? {
    textAfter(word, in: line).flatMap { Int($0) }
}

/// `number(after:in:)` for figures with a fraction (`stream-rtt 12.5`).
func decimal(after word: String, in line: String) -> Double? {
    textAfter(word, in: line).flatMap { Double($0) }
}

private func textAfter(_ word: String, in line: String) -> Substring? {
    let parts = line.split(separator: " ")
    guard let index = parts.firstIndex(where: { $0 == word }), index + 1 < parts.count else { return nil }
    return parts[index + 1]
}

extension SwitchProcess {
    /// The `path …` line of the first peer in `peer/print` (empty when there is none).
    func peerPathLine() throws -> String {
        try command("peer/print").data.first { $0.hasPrefix(" path ") } ?? ""
    }
}
