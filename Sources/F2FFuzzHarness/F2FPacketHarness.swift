import EthernetSwitch
import F2FCore

/// The F2F stream framing (`PacketAssembler`: 1-byte type, 2-byte big-endian length, payload)
/// against a straightforward reference decoder, then each payload's own decoder as `Peer` and
/// `PeerPorts` apply it. The first input byte chooses how the stream is split and whether the
/// handshake's header check (`admits`) is on; the rest is the stream.
enum F2FPacketHarness {
    /// Read sizes the stream is cut into: the sizes the stream tests use, and mixtures.
    private static let chunkPatterns: [[Int]] = [[1], [2], [3], [7], [4096], [1, 2, 3, 7], [65_538], [3, 1, 4096]]

    @Sendable static func run(_ input: UnsafeRawBufferPointer) {
        guard let options = input.first else { return }
        let stream = [UInt8](input.dropFirst())
        let connection = ChunkedConnection(
            stream: stream,
            chunkSizes: chunkPatterns[Int(options & 0x07)],
            pausesBetweenChunks: options & 0x10 != 0)
        var admits: ((F2FPacketType, Int) -> Bool)?
        if options & 0x08 != 0 { admits = handshakeAdmits }
        let expected = ReferenceStream(stream, admits: admits)
        let assembler = PacketAssembler()
        assembler.admits = admits
        var delivered = 0
        while true {
            let progress: PacketAssembler.Progress
            do {
                progress = try assembler.read(from: connection)
            } catch {
                preconditionFailure("the in-memory connection never fails: \(error)")
            }
            switch progress {
            case .needMore:
                continue
            case .packet(let type):
                precondition(delivered < expected.packets.count, "assembler produced a packet the reference did not")
                let reference = expected.packets[delivered]
                precondition(type == reference.type, "type \(type), reference \(reference.type)")
                precondition(assembler.payload.elementsEqual(stream[reference.payload]), "payload differs from the stream")
                checkPayload(type, assembler: assembler)
                assembler.release()
                delivered += 1
            case .endOfStream(let midPacket):
                precondition(connection.isExhausted, "end of stream before the stream ended")
                precondition(delivered == expected.packets.count, "\(delivered) packets, reference \(expected.packets.count)")
                precondition(midPacket == expected.endsMidPacket, "midPacket \(midPacket), reference \(expected.endsMidPacket)")
                precondition(expected.rejected == nil, "reference rejected a header the assembler accepted")
                return
            case .rejectedHeader(let type, let count):
                precondition(delivered == expected.packets.count, "rejected after \(delivered) packets, reference \(expected.packets.count)")
                precondition(expected.rejected?.type == type && expected.rejected?.count == count, "unexpected rejection of \(type) \(count)")
                return  // Peer refuses and closes here.
            }
        }
    }

    /// What `Peer` admits while handshaking: only a hello no longer than a hello can be.
    private static func handshakeAdmits(_ type: F2FPacketType, _ count: Int) -> Bool {
        type == .hello && count <= Hello.maximumEncodedCount
    }

    private static func checkPayload(_ type: F2FPacketType, assembler: PacketAssembler) {
        switch type {
        case .hello:
            let hello = try? assembler.withPayloadSpan { (span) throws(HelloError) in try Hello(parsing: span) }
            if let hello { HelloRoundTrip.check(hello, payload: [UInt8](assembler.payload)) }
        case .reject:
            _ = String(decoding: assembler.payload, as: UTF8.self)
        case .bpdu:
            BPDUHarness.check(frame: [UInt8](assembler.payload))
        case .ethernetFrame:
            EthernetHeaderHarness.check(frame: [UInt8](assembler.payload))
        case .meshAdvert:
            // What parses encodes to something that parses back the same (adverts are
            // canonical: links and stations sorted).
            guard let advert = try? MeshAdvert(parsing: [UInt8](assembler.payload).span) else { break }
            var bytes: [UInt8] = []
            advert.encode(into: &bytes)
            precondition((try? MeshAdvert(parsing: bytes.span)) == advert, "mesh advert does not round-trip")
        case .meshFrame:
            let payload = [UInt8](assembler.payload)
            if let header = try? MeshFrameHeader(parsing: payload.span) {
                EthernetHeaderHarness.check(frame: Array(payload[MeshFrameHeader.encodedCount...]))
                _ = header.owner
            }
        default:
            _ = type.description
        }
    }
}

/// The framing decoded the obvious way from the whole stream at once.
private struct ReferenceStream {
    var packets: [(type: F2FPacketType, payload: Range<Int>)] = []
    var endsMidPacket = false
    var rejected: (type: F2FPacketType, count: Int)?

    init(_ stream: [UInt8], admits: ((F2FPacketType, Int) -> Bool)?) {
        var offset = 0
        while offset < stream.count {
            guard let header = try? F2FPacketHeader(parsing: stream.span.extracting(offset...)) else {
                endsMidPacket = true
                return
            }
            var encoded: [UInt8] = []
            header.encode(into: &encoded)
            precondition(encoded[...] == stream[offset..<(offset + 3)], "header round trip changed the bytes")
            if let admits, !admits(header.type, header.payloadCount) {
                rejected = (header.type, header.payloadCount)
                return
            }
            let payload = (offset + 3)..<(offset + 3 + header.payloadCount)
            guard payload.upperBound <= stream.count else {
                endsMidPacket = true
                return
            }
            packets.append((header.type, payload))
            offset = payload.upperBound
        }
    }
}
