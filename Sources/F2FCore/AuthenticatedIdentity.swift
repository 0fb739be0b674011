/// The long-term public key a connection's provider proved the other side holds (the Noise
/// static key): who a friend is, whatever its hello claims. The core compares these to keep
/// one link per friend, and checks the node id a hello claims against it.
public struct AuthenticatedIdentity: Hashable, Sendable {
    public let publicKey: [UInt8]

    public init(publicKey: [UInt8]) {
        self.publicKey = publicKey
    }

    /// The node id that goes with this key.
    public var nodeID: UInt64 { Self.nodeID(forPublicKey: publicKey) }

    /// A node's id is the first 8 bytes of its public key, big-endian: fixed by the key, so a
    /// hello cannot claim another node's id, and both ends of a link compute the same one (the
    /// lower id decides which of two links stays).
    public static func nodeID(forPublicKey key: [UInt8]) -> UInt64 {
        key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}
