import EthernetSwitch
import F2FBase

/// The Ethernet header parser, then the switch core's ingress decision for the same frame.
enum EthernetHeaderHarness {
    @Sendable static func run(_ input: UnsafeRawBufferPointer) {
        check(frame: [UInt8](input))
    }

    /// Also used by the F2F packet harness for `.ethernetFrame` payloads.
    static func check(frame: [UInt8]) {
        if let header = try? EthernetHeader(parsing: frame.span) {
            checkRoundTrip(header, frame: frame)
        }
        forward(frame)
    }

    /// decode → encode → decode is the identity; the encoding is the frame's own header bytes
    /// except the 802.1Q priority and DEI bits, which the header does not keep.
    private static func checkRoundTrip(_ header: EthernetHeader, frame: [UInt8]) {
        var encoded: [UInt8] = []
        header.encode(into: &encoded)
        precondition(encoded.count == header.encodedCount, "encodedCount \(header.encodedCount) but encoded \(encoded.count)")
        let reparsed: EthernetHeader
        do {
            reparsed = try EthernetHeader(parsing: encoded.span)
        } catch {
            preconditionFailure("re-encoded header does not parse: \(error)")
        }
        precondition(reparsed == header, "round trip changed the header")
        var original = Array(frame[..<encoded.count])
        if header.isTagged { original[EthernetHeader.Field.tagControl] &= 0x0F }
        precondition(original == encoded, "re-encoded header differs from the frame beyond the tag priority")
        for address in [header.destination, header.source] {
            precondition(MACAddress(parsing: address.description) == address, "MAC text round trip failed for \(address)")
        }
    }

    /// Learning and forwarding with the spanning tree off: a frame from port 1 then port 2.
    private static func forward(_ frame: [UInt8]) {
        var core = Switch(configuration: SwitchConfiguration(portCount: 4, maxFrameSize: 1518))
        core.activatePort(1, now: .zero)
        core.activatePort(2, now: .zero)
        for port in [1, 2, 1] {
            let decision = core.receive(frame: frame.span, on: port, now: .zero)
            if case .unicast(let egress) = decision {
                precondition(egress != port && core.isActive(egress), "unicast to port \(egress) from \(port)")
            }
        }
    }
}
