/// The header in front of each piece of an F2F packet too large for one datagram.
///
/// A datagram's plaintext is either one whole F2F packet (its first byte is the packet type) or
/// one fragment, whose first byte is `marker`, a value no F2F packet type uses. Layout, big-endian:
///
///     0      1      2      3..5           6..9
///     marker index  count  total length   packet id
///
/// All fragments of a packet but the last carry `chunkCount` bytes (the total divided evenly,
/// rounded up), so a fragment's offset follows from its index and no offset field is needed;
/// the last carries the rest. Every field is checked against the others on parsing, so a
/// reassembler can copy a fragment to `offset` without further checks.
public struct FragmentHeader: Equatable, Sendable {
    /// The first byte of a fragment; the lead reserves it in `F2FPacketType` (no type uses it).
    public static let marker: UInt8 = 0xFE
    public static let encodedCount = 10
    /// A fragment count fits a 64-bit receive mask.
    public static let maximumFragmentCount = 64
    /// Three bytes of length; F2F packets are at most 3 + 65 535 bytes.
    public static let maximumTotalCount = 0xFF_FFFF

    public var index: Int
    public var count: Int
    public var totalCount: Int
    public var packetID: UInt32

    public init(index: Int, count: Int, totalCount: Int, packetID: UInt32) {
        self.index = index
        self.count = count
        self.totalCount = totalCount
        self.packetID = packetID
    }

    /// Bytes carried by every fragment but the last.
    public var chunkCount: Int { (totalCount + count - 1) / count }
    public var offset: Int { index * chunkCount }
    /// Bytes this fragment carries after its header.
    public var payloadCount: Int { index == count - 1 ? totalCount - offset : chunkCount }

    public enum ParseError: Error, Equatable, Sendable {
        case notAFragment
        case truncated
        /// Index, count, length and the bytes present disagree.
        case inconsistent
    }

    /// Parses and validates the header of `datagram`; the payload is the `payloadCount` bytes
    /// after `encodedCount`.
    public init(parsing datagram: UnsafeRawBufferPointer) throws(ParseError) {
        guard datagram.count >= Self.encodedCount else {
            throw datagram.first == Self.marker || datagram.isEmpty ? .truncated : .notAFragment
        }
        guard datagram[0] == Self.marker else { throw .notAFragment }
        index = Int(datagram[1])
        count = Int(datagram[2])
        totalCount = Int(datagram[3]) << 16 | Int(datagram[4]) << 8 | Int(datagram[5])
        packetID = UInt32(datagram[6]) << 24 | UInt32(datagram[7]) << 16 | UInt32(datagram[8]) << 8 | UInt32(datagram[9])
        // A single fragment would be a whole packet; every fragment must carry a byte.
        guard count >= 2, count <= Self.maximumFragmentCount, index < count, totalCount >= count,
            (count - 1) * chunkCount < totalCount,
            datagram.count - Self.encodedCount == payloadCount
        else { throw .inconsistent }
    }

    public func encode(into output: inout [UInt8]) {
        output.append(Self.marker)
        output.append(UInt8(truncatingIfNeeded: index))
        output.append(UInt8(truncatingIfNeeded: count))
        output.append(UInt8(truncatingIfNeeded: totalCount >> 16))
        output.append(UInt8(truncatingIfNeeded: totalCount >> 8))
        output.append(UInt8(truncatingIfNeeded: totalCount))
        output.append(UInt8(truncatingIfNeeded: packetID >> 24))
        output.append(UInt8(truncatingIfNeeded: packetID >> 16))
        output.append(UInt8(truncatingIfNeeded: packetID >> 8))
        output.append(UInt8(truncatingIfNeeded: packetID))
    }
}
