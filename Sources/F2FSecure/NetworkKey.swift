import Crypto

/// A pre-shared key that every node of one network holds (`--network-key FILE`): with it the
/// handshake is XXpsk0, and a node without the key can neither link nor learn who listens.
/// It adds to the friends list, it does not replace it: a holder of the key who is not a
/// friend is still refused. 32 bytes, written as 64 hex digits or 52 base32 letters.
public struct NetworkKey: Sendable, Equatable {
    static let byteCount = 32
    let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// A fresh random key.
    public init() {
        bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// The key file's text: the first word that is not in a `#` comment, hex or base32.
    public init?(parsing text: String) {
        // `isNewline`: a CRLF line end is one Character, not a "\n".
        let words = text.split(whereSeparator: \.isNewline).lazy
            .map { $0.prefix { $0 != "#" } }
            .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }) }
        guard let word = words.first, words.dropFirst().first == nil else { return nil }
        if word.utf8.count == 2 * Self.byteCount, let bytes = Self.hex(word) {
            self.init(bytes: bytes)
        } else if word.utf8.count == 52, let bytes = Base32.decode(String(word)) {
            self.init(bytes: bytes)
        } else {
            return nil
        }
    }

    /// How it is written to a key file.
    public var encoded: String { Base32.encode(bytes) }

    private static func hex(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        var high: UInt8?
        for character in text.utf8 {
            let value: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }
}
