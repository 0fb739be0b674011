/// The head of one HTTP/1.x request (request line and header lines), parsed from the bytes a
/// metrics client sent so far. Only what the metrics endpoint needs is kept (method and path);
/// the headers are checked for form and otherwise ignored. The head must fit in
/// `maximumCount` bytes: a client that sends more without ending it is refused, so a
/// connection costs the switch a bounded buffer.
public struct HTTPRequestHead: Equatable, Sendable {
    public static let maximumCount = 4096

    public enum ParseOutcome: Equatable, Sendable {
        /// The head has not ended yet (no empty line), and is still within the bound.
        case needMore
        case complete(HTTPRequestHead)
        /// Not an HTTP/1.x request head: answered with 400 and a close.
        case malformed(String)
        /// No end of the head within `maximumCount` bytes: answered with 431 and a close.
        case tooLarge
    }

    public var method: String
    /// The request target's path, without its query.
    public var path: String

    public init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    /// Parses what arrived so far. A request line that is complete but wrong is refused at
    /// once, before the rest of the head arrives.
    public static func parse(_ bytes: [UInt8]) -> ParseOutcome {
        guard let firstLineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            return bytes.count > maximumCount ? .tooLarge : .needMore
        }
        guard firstLineEnd <= maximumCount else { return .tooLarge }
        let head: HTTPRequestHead
        switch requestLine(bytes[..<firstLineEnd]) {
        case .success(let parsed): head = parsed
        case .failure(let reason): return .malformed(reason.text)
        }
        // Header lines until the empty one; each `name: value` with a token name.
        var start = firstLineEnd + 1
        while true {
            guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                return bytes.count > maximumCount ? .tooLarge : .needMore
            }
            guard end < maximumCount else { return .tooLarge }
            var line = bytes[start..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty { return .complete(head) }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line[..<colon].allSatisfy(isTokenByte)
            else {
                return .malformed("bad header line")
            }
            guard !line.contains(where: { $0 < 0x20 && $0 != UInt8(ascii: "\t") }) else { return .malformed("control byte in a header") }
            start = end + 1
        }
    }

    private struct Reason: Error {
        var text: String
    }

    private static func requestLine(_ rawLine: ArraySlice<UInt8>) -> Result<HTTPRequestHead, Reason> {
        var line = rawLine
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard words.count == 3 else { return .failure(Reason(text: "request line is not METHOD TARGET VERSION")) }
        let (method, target, version) = (words[0], words[1], words[2])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { return .failure(Reason(text: "bad method")) }
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(Reason(text: "bad request target"))
        }
        guard version.elementsEqual("HTTP/1.1".utf8) || version.elementsEqual("HTTP/1.0".utf8) else {
            return .failure(Reason(text: "not HTTP/1.x"))
        }
        let path = target.prefix { $0 != UInt8(ascii: "?") }
        return .success(HTTPRequestHead(method: String(decoding: method, as: UTF8.self), path: String(decoding: path, as: UTF8.self)))
    }

    /// RFC 9110 5.6.2 token characters.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
