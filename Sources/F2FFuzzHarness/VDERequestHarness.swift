import SwitchRuntime
import VDEServer

/// The control request a VDE client sends on `ctl` (`VDERequest`), as `ControlHandshake`
/// sees it: bytes accumulate, `isComplete` decides when to parse, then parse.
enum VDERequestHarness {
    @Sendable static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        checkPrefixes(of: bytes)
        guard let request = try? VDERequest(parsing: bytes.span) else { return }
        checkRoundTrip(request)
    }

    /// Every prefix the stream could have delivered so far: once `isComplete` says yes it must
    /// stay yes, and parsing a complete prefix never reports it truncated.
    private static func checkPrefixes(of bytes: [UInt8]) {
        let span = bytes.span
        var wasComplete = false
        for count in 0...min(bytes.count, VDERequest.maximumCount + 1) {
            let prefix = span.extracting(0..<count)
            let complete = VDERequest.isComplete(prefix)
            precondition(!wasComplete || complete, "isComplete went back to false at \(count) bytes")
            wasComplete = complete
            do {
                _ = try VDERequest(parsing: prefix)
                precondition(complete, "parsed a request that isComplete called incomplete (\(count) bytes)")
            } catch {
                if case .truncated = error {
                    precondition(!complete, "complete request of \(count) bytes reported truncated")
                }
            }
        }
    }

    /// decode → encode → decode is the identity, and the encoding has the advertised length.
    private static func checkRoundTrip(_ request: VDERequest) {
        var encoded: [UInt8] = []
        request.encode(into: &encoded)
        precondition(encoded.count == request.encodedCount, "encodedCount \(request.encodedCount) but encoded \(encoded.count)")
        precondition(encoded.count <= VDERequest.maximumCount, "re-encoded request exceeds 256 bytes")
        let reparsed: VDERequest
        do {
            reparsed = try VDERequest(parsing: encoded.span)
        } catch {
            preconditionFailure("re-encoded request does not parse: \(error)")
        }
        precondition(reparsed == request, "round trip changed the request")
        _ = request.description
        _ = request.clientAddress.description
    }
}
