import EthernetSwitch
import F2FBase

/// The BPDU codec, from a whole frame and from the bare body, then what the spanning tree
/// does with whatever parsed: the path a BPDU takes from a port or a peer link.
enum BPDUHarness {
    @Sendable static func run(_ input: UnsafeRawBufferPointer) {
        check(frame: [UInt8](input))
    }

    /// Also used by the F2F packet harness for `.bpdu` payloads (they carry whole frames).
    static func check(frame: [UInt8]) {
        let span = frame.span
        _ = BPDU.isAddressedToBridges(span)
        if let bpdu = try? BPDU(frame: span) {
            checkFrameRoundTrip(bpdu, source: frame)
            SpanningTreeExercise.deliver(frame: frame)
        }
        if frame.count > 17, let bpdu = try? BPDU(parsing: span.extracting(17...)) {
            checkBodyRoundTrip(bpdu)
        }
        if let bpdu = try? BPDU(parsing: span) {
            checkBodyRoundTrip(bpdu)
        }
    }

    private static func checkFrameRoundTrip(_ bpdu: BPDU, source frame: [UInt8]) {
        let source = MACAddress(rawValue: frame.span.bigEndianUInt48(at: 6))
        var encoded: [UInt8] = []
        bpdu.encodeFrame(source: source, into: &encoded)
        precondition(encoded.count == 17 + bpdu.encodedCount, "frame encoding of \(encoded.count) bytes")
        let reparsed: BPDU
        do {
            reparsed = try BPDU(frame: encoded.span)
        } catch {
            preconditionFailure("re-encoded BPDU frame does not parse: \(error)")
        }
        precondition(reparsed == bpdu, "frame round trip changed the BPDU")
        describe(bpdu)
    }

    private static func checkBodyRoundTrip(_ bpdu: BPDU) {
        var encoded: [UInt8] = []
        bpdu.encode(into: &encoded)
        precondition(encoded.count == bpdu.encodedCount, "encodedCount \(bpdu.encodedCount) but encoded \(encoded.count)")
        let reparsed: BPDU
        do {
            reparsed = try BPDU(parsing: encoded.span)
        } catch {
            preconditionFailure("re-encoded BPDU body does not parse: \(error)")
        }
        precondition(reparsed == bpdu, "body round trip changed the BPDU")
    }

    /// The text the console and logs print for received values must not trap either.
    private static func describe(_ bpdu: BPDU) {
        switch bpdu {
        case .topologyChangeNotification:
            return
        case .configuration(let info), .rapid(let info, _):
            _ = info.rootID.description
            _ = info.bridgeID.description
            for time in [info.messageAge, info.maxAge, info.helloTime, info.forwardDelay] {
                _ = time.description
                _ = time.duration
            }
            var copy = info
            copy.setRole(info.role)
            precondition(copy.role == info.role, "setRole(role) changed the role")
        }
    }
}
