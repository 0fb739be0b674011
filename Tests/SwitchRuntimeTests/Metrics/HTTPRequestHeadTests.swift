import F2FBase
import Testing

@testable import SwitchRuntime

@Suite struct HTTPRequestHeadTests {
    static let scrape = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nAccept: text/plain;version=0.0.4\r\n\r\n"

    @Test func aPrometheusScrapeParses() {
        #expect(HTTPRequestHead.parse(Array(Self.scrape.utf8)) == .complete(HTTPRequestHead(method: "GET", path: "/metrics")))
    }

    @Test func everyProperPrefixNeedsMore() {
        let bytes = Array(Self.scrape.utf8)
        for count in 0..<bytes.count {
            #expect(HTTPRequestHead.parse(Array(bytes[..<count])) == .needMore, "prefix of \(count) bytes")
        }
    }

    @Test func bareLineFeedsAndAQueryAreAccepted() {
        #expect(HTTPRequestHead.parse(Array("GET /metrics?x=1 HTTP/1.0\n\n".utf8)) == .complete(HTTPRequestHead(method: "GET", path: "/metrics")))
    }

    @Test(arguments: [
        "garbage\r\n\r\n", "GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n", "\u{16}\u{03}\u{01}\u{02}\u{00}\n",
    ])
    func malformedHeadsAreRefused(text: String) {
        guard case .malformed = HTTPRequestHead.parse(Array(text.utf8)) else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
    }

    @Test func aBadRequestLineIsRefusedBeforeTheHeadEnds() {
        guard case .malformed = HTTPRequestHead.parse(Array("HELLO THERE\r\nHost: x\r\n".utf8)) else {
            Issue.record("waited for the rest")
            return
        }
    }

    @Test func aHeadPastTheBoundIsTooLarge() {
        let long = "GET /metrics HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: HTTPRequestHead.maximumCount) + "\r\n\r\n"
        #expect(HTTPRequestHead.parse(Array(long.utf8)) == .tooLarge)
        // Unfinished, but already over the bound: no need to wait for the end.
        #expect(HTTPRequestHead.parse(Array(long.utf8.prefix(HTTPRequestHead.maximumCount + 1))) == .tooLarge)
        #expect(HTTPRequestHead.parse([UInt8](repeating: UInt8(ascii: "G"), count: HTTPRequestHead.maximumCount + 1)) == .tooLarge)
    }

    @Test func tenThousandSeededBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 17)
        for _ in 0..<10_000 {
            let count = Int(generator.next() % 200)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if generator.next() % 2 == 0 { bytes = Array("GET /metrics HTTP/1.1\r\n".utf8) + bytes }
            _ = HTTPRequestHead.parse(bytes)
        }
    }

    @Test func statusForEachRequest() {
        #expect(HTTPResponse.status(for: HTTPRequestHead(method: "GET", path: "/metrics"), path: "/metrics") == .ok)
        #expect(HTTPResponse.status(for: HTTPRequestHead(method: "GET", path: "/"), path: "/metrics") == .notFound)
        #expect(HTTPResponse.status(for: HTTPRequestHead(method: "POST", path: "/metrics"), path: "/metrics") == .methodNotAllowed)
        #expect(HTTPResponse.status(for: HTTPRequestHead(method: "HEAD", path: "/metrics"), path: "/metrics") == .methodNotAllowed)
    }

    @Test func responsesCarryLengthAndClose() {
        let text = String(decoding: HTTPResponse.encode(.methodNotAllowed), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(text.contains("\r\nAllow: GET\r\n"))
        #expect(text.contains("\r\nConnection: close\r\n"))
        #expect(text.hasSuffix("\r\n\r\n405 Method Not Allowed\n"))
        #expect(text.contains("Content-Length: 23\r\n"))
    }
}

