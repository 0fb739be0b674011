/// Splits an F2F packet that does not fit the path's datagram payload into evenly sized
/// fragments, each a complete datagram plaintext (`FragmentHeader` + bytes). A packet that fits
/// goes whole, without a header. The sender side of `Reassembler`.
///
/// Even sizes rather than full fragments plus a runt: a 1514-byte frame over a 1400-byte payload
/// becomes two ~760-byte datagrams, and no fragment is smaller than needed to be lost alone.
public struct Fragmenter: Sendable {
    public enum Refusal: Error, Equatable, Sendable {
        /// More than `FragmentHeader.maximumFragmentCount` fragments at this payload size.
        case tooManyFragments(needed: Int)
        /// The datagram payload cannot hold a header and a byte.
        case payloadTooSmall
    }

    /// Ids only need to differ among the packets a receiver may hold at once; a counter never
    /// repeats within 2^32 packets.
    public private(set) var nextPacketID: UInt32

    public init(firstPacketID: UInt32 = 0) {
        nextPacketID = firstPacketID
    }

    /// How many datagrams `packetCount` bytes become (1: sent whole).
    public static func fragmentCount(packetCount: Int, maximumPayload: Int) -> Int {
        if packetCount <= maximumPayload { return 1 }
        let capacity = maximumPayload - FragmentHeader.encodedCount
        guard capacity > 0 else { return .max }
        return (packetCount + capacity - 1) / capacity
    }

    /// Calls `emit` once per datagram plaintext, in order: a packet that fits is handed on as
    /// it is (no copy); fragments are built in `scratch` (cleared and reused, so no allocation
    /// once it has grown). The bytes are valid only during `emit`.
    public mutating func fragment(
        _ packet: UnsafeRawBufferPointer, maximumPayload: Int, scratch: inout [UInt8],
        emit: (UnsafeRawBufferPointer) -> Void
    ) throws(Refusal) {
        if packet.count <= maximumPayload {
            emit(packet)
            return
        }
        guard maximumPayload > FragmentHeader.encodedCount else { throw .payloadTooSmall }
        let count = Self.fragmentCount(packetCount: packet.count, maximumPayload: maximumPayload)
        guard count <= FragmentHeader.maximumFragmentCount else { throw .tooManyFragments(needed: count) }
        var header = FragmentHeader(index: 0, count: count, totalCount: packet.count, packetID: nextPacketID)
        nextPacketID &+= 1
        for index in 0..<count {
            header.index = index
            scratch.removeAll(keepingCapacity: true)
            header.encode(into: &scratch)
            // Typed bytes: one memcpy, where a raw buffer is appended byte by byte.
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: packet[header.offset..<header.offset + header.payloadCount]).bindMemory(to: UInt8.self))
            scratch.withUnsafeBytes(emit)
        }
    }
}
