/// printf-style padding for the console's fixed formats, without Foundation.
enum TextFormat {
    /// `%0Nd`
    static func zeroPadded(_ value: some BinaryInteger, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `%Nd` / `%Nlld`
    static func rightAligned(_ value: some BinaryInteger, width: Int) -> String {
        let digits = String(value)
        return String(repeating: " ", count: max(0, width - digits.count)) + digits
    }

    /// `%-Ns`
    static func leftAligned(_ text: String, width: Int) -> String {
        Console.column(text, width)
    }

    static func octal(_ value: some BinaryInteger, width: Int) -> String {
        let digits = String(value, radix: 8)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
