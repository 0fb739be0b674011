import F2FBase
import Testing

@Suite struct LogTextTests {
    @Test func plainTextIsUnchanged() {
        for text in ["", "alice", "Zoë's laptop 🖥", "path/with spaces\\and backslash"] {
            #expect(LogText.escaped(text) == text)
        }
    }

    @Test func newlinesAndTerminalEscapesBecomeHexEscapes() {
        #expect(LogText.escaped("evil\nINFO forged line") == "evil\\x0aINFO forged line")
        #expect(LogText.escaped("\u{1B}[31mred\u{1B}[0m") == "\\x1b[31mred\\x1b[0m")
        #expect(LogText.escaped("a\r\tb\u{0}c\u{7F}") == "a\\x0d\\x09b\\x00c\\x7f")
        #expect(LogText.escaped("\u{9B}31m") == "\\x9b31m", "the C1 control sequence introducer")
    }

    @Test func separatorsAndBidirectionalOverridesAreEscaped() {
        #expect(LogText.escaped("a\u{2028}b") == "a\\u{2028}b")
        #expect(LogText.escaped("\u{202E}gnp.exe") == "\\u{202e}gnp.exe")
    }

    @Test func theResultHasNoControlCharactersAndEscapingTwiceChangesNothing() {
        var generator = SeededGenerator(seed: 19)
        for _ in 0..<2000 {
            let scalars = (0..<Int.random(in: 0...24, using: &generator)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 0...0x2100, using: &generator))
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            let escaped = LogText.escaped(text)
            #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{2028}" })
            #expect(LogText.escaped(escaped) == escaped)
        }
    }
}
