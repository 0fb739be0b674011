/// What the metrics endpoint answers, as bytes ready to send. Every answer closes the
/// connection (`Connection: close`): a scrape is one request, and no connection lingers.
public enum HTTPResponse {
    public enum Status: Int, Sendable {
        case ok = 200
        case badRequest = 400
        case notFound = 404
        case methodNotAllowed = 405
        case requestTimeout = 408
        case headerFieldsTooLarge = 431

        var reason: String {
            switch self {
            case .ok: "OK"
            case .badRequest: "Bad Request"
            case .notFound: "Not Found"
            case .methodNotAllowed: "Method Not Allowed"
            case .requestTimeout: "Request Timeout"
            case .headerFieldsTooLarge: "Request Header Fields Too Large"
            }
        }
    }

    /// The status for a parsed request: the metrics on `GET path`, else what is wrong with it.
    public static func status(for head: HTTPRequestHead, path: String) -> Status {
        guard head.method == "GET" else { return .methodNotAllowed }
        return head.path == path ? .ok : .notFound
    }

    public static func encode(_ status: Status, contentType: String = "text/plain; charset=utf-8", body: String? = nil) -> [UInt8] {
        let body = body ?? "\(status.rawValue) \(status.reason)\n"
        var head = "HTTP/1.1 \(status.rawValue) \(status.reason)\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.utf8.count)\r\n"
        if status == .methodNotAllowed { head += "Allow: GET\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + Array(body.utf8)
    }
}
