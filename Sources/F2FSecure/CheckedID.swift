/// The form of a 52-character id that people copy by hand, as Syncthing writes device ids:
/// the id in four runs of 13 characters, each followed by a Luhn mod 32 check character,
/// shown uppercase in eight groups of seven (`ABCDEFG-HIJKLMN-…`). Any one mistyped character,
/// and any swap of two neighbours within a run, fails its run's check.
enum CheckedID {
    static let runCount = 13
    static let groupCount = 7
    /// 52 id characters and 4 check characters.
    static let checkedCount = 56

    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// `plain`: the 52-character lowercase form.
    static func encode(_ plain: String) -> String {
        var checked: [UInt8] = []
        checked.reserveCapacity(checkedCount)
        let bytes = Array(plain.utf8)
        for start in stride(from: 0, to: bytes.count, by: runCount) {
            let run = bytes[start..<min(start + runCount, bytes.count)]
            checked += run
            // Our own encoder's output: every character is in the alphabet.
            checked.append(alphabet[checkValue(of: run.map { value(of: $0)! })])
        }
        let text = String(decoding: checked, as: UTF8.self).uppercased()
        return stride(from: 0, to: text.count, by: groupCount).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return String(text[start..<text.index(start, offsetBy: groupCount)])
        }.joined(separator: "-")
    }

    /// The 52-character form of a checked id (dashes and spaces anywhere, any case), or nil
    /// when it is not 56 base32 characters or a check character is wrong.
    static func decode(_ text: String) -> String? {
        let characters = text.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: " ") }
        guard characters.count == checkedCount else { return nil }
        var plain: [UInt8] = []
        plain.reserveCapacity(checkedCount - 4)
        for start in stride(from: 0, to: checkedCount, by: runCount + 1) {
            var values: [Int] = []
            for character in characters[start..<start + runCount + 1] {
                guard let value = value(of: character) else { return nil }
                values.append(value)
            }
            guard checkValue(of: values.dropLast()) == values.last else { return nil }
            plain += values.dropLast().map { alphabet[$0] }
        }
        return String(decoding: plain, as: UTF8.self)
    }

    private static func value(of character: UInt8) -> Int? {
        switch character {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(character - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(character - UInt8(ascii: "A"))
        case UInt8(ascii: "2")...UInt8(ascii: "7"): Int(character - UInt8(ascii: "2")) + 26
        default: nil
        }
    }

    /// Luhn mod N (N = 32): every second value doubled, its base-32 digits summed.
    static func checkValue(of values: some Collection<Int>) -> Int {
        var factor = 1
        var sum = 0
        for value in values {
            let addend = factor * value
            factor = factor == 2 ? 1 : 2
            sum += addend / 32 + addend % 32
        }
        return (32 - sum % 32) % 32
    }
}
