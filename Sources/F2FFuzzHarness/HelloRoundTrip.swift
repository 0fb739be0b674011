import F2FCore

/// Invariants of a parsed `Hello`.
enum HelloRoundTrip {
    static func check(_ hello: Hello, payload: [UInt8]) {
        var encoded: [UInt8] = []
        hello.encode(into: &encoded)
        // A valid UTF-8 name comes back byte for byte.
        if String(validating: payload[13...], as: UTF8.self) != nil {
            precondition(encoded == payload, "hello re-encoding differs from its payload")
        }
        // Invalid UTF-8 was replaced by U+FFFD (3 bytes each), which may make the name too
        // long to parse again; within the limit the round trip must hold.
        guard encoded.count <= Hello.maximumEncodedCount else { return }
        let reparsed: Hello
        do {
            reparsed = try Hello(parsing: encoded.span)
        } catch {
            preconditionFailure("re-encoded hello does not parse: \(error)")
        }
        precondition(reparsed == hello, "hello round trip changed the value")
    }
}
