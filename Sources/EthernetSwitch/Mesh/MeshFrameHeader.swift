import F2FBase

/// The header in front of a routed frame (F2F packet `meshFrame`): the node that owns the
/// destination station and how many more hops the frame may take. Nodes on the way forward
/// by owner, never by the frame's addresses, and never learn from it.
///
/// ```
/// 0   owner node id   8 bytes, big-endian
/// 8   hop limit       1
/// 9   the Ethernet frame, untouched
/// ```
public struct MeshFrameHeader: Equatable, Sendable {
    public static let encodedCount = 9
    /// A belt on top of loop-free routes: a frame caught in a transient loop while views
    /// disagree dies after this many hops.
    public static let initialHopLimit: UInt8 = 16

    enum Field {
        static let owner = 0
        static let hopLimit = 8
    }

    public var owner: UInt64
    public var hopLimit: UInt8

    public init(owner: UInt64, hopLimit: UInt8 = Self.initialHopLimit) {
        self.owner = owner
        self.hopLimit = hopLimit
    }

    public init(parsing bytes: Span<UInt8>) throws(WireError) {
        try bytes.requireCount(Self.encodedCount)
        owner = MeshAdvert.uint64(bytes, at: Field.owner)
        hopLimit = bytes[Field.hopLimit]
    }

    /// Writes the header into the first `encodedCount` bytes of `buffer` (the data path
    /// builds routed packets in preallocated slots, never in arrays).
    public func write(to buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.encodedCount, "buffer too small for a mesh header")
        buffer.storeBytes(of: owner.bigEndian, toByteOffset: Field.owner, as: UInt64.self)
        buffer[Field.hopLimit] = hopLimit
    }

    public func encode(into bytes: inout [UInt8]) {
        MeshAdvert.append(owner, to: &bytes)
        bytes.append(hopLimit)
    }
}
