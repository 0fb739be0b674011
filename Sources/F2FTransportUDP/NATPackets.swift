import F2FBase
import F2FPosix
import F2FSecure

/// A UDP endpoint as the NAT-traversal packets carry it (docs/nat-traversal.md):
///
///     0 family (4 or 6)  1..2 port (BE)  3... address (4 or 16 bytes)
enum EndpointCodec {
    static func encodedCount(_ endpoint: InetSocketAddress) -> Int { 3 + (endpoint.isIPv6 ? 16 : 4) }

    static func encode(_ endpoint: InetSocketAddress, into bytes: inout [UInt8]) {
        bytes.append(endpoint.isIPv6 ? 6 : 4)
        bytes.append(UInt8(endpoint.port >> 8))
        bytes.append(UInt8(endpoint.port & 0xFF))
        bytes.append(contentsOf: endpoint.ipBytes)
    }

    /// One endpoint at `offset`, which moves past it; nil when malformed.
    static func parse(_ bytes: UnsafeRawBufferPointer, at offset: inout Int) -> InetSocketAddress? {
        guard offset + 3 <= bytes.count else { return nil }
        let count: Int
        switch bytes[offset] {
        case 4: count = 4
        case 6: count = 16
        default: return nil
        }
        guard offset + 3 + count <= bytes.count else { return nil }
        let port = UInt16(bytes[offset + 1]) << 8 | UInt16(bytes[offset + 2])
        let address = InetSocketAddress(ip: UnsafeRawBufferPointer(rebasing: bytes[(offset + 3)..<(offset + 3 + count)]), port: port)
        offset += 3 + count
        return address
    }
}

/// `observed-address` (0x07): "your datagrams reach me from this address", the STUN idea with
/// friends as the servers. Payload: one endpoint.
struct ObservedAddress: Equatable {
    var endpoint: InetSocketAddress

    init(endpoint: InetSocketAddress) {
        self.endpoint = endpoint
    }

    init?(parsing bytes: UnsafeRawBufferPointer) {
        var offset = 0
        guard let endpoint = EndpointCodec.parse(bytes, at: &offset), offset == bytes.count else { return nil }
        self.endpoint = endpoint
    }

    func encode(into bytes: inout [UInt8]) {
        EndpointCodec.encode(endpoint, into: &bytes)
    }
}

/// `wanted-friends` (0x08): the friends the sender wants to reach and is not linked to, and
/// its local UDP endpoints (for two friends behind the same NAT). A mutual friend introduces
/// two nodes only when each named the other. Payload:
///
///     0 endpoint count  endpoints…  then 32-byte public keys to the end
struct WantedFriends: Equatable {
    static let maximumEndpoints = 8
    static let maximumFriends = 256

    var localEndpoints: [InetSocketAddress]
    var friends: [PeerID]

    init(localEndpoints: [InetSocketAddress], friends: [PeerID]) {
        self.localEndpoints = localEndpoints
        self.friends = friends
    }

    init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 1, Int(bytes[0]) <= Self.maximumEndpoints else { return nil }
        var offset = 1
        var endpoints: [InetSocketAddress] = []
        for _ in 0..<Int(bytes[0]) {
            guard let endpoint = EndpointCodec.parse(bytes, at: &offset) else { return nil }
            endpoints.append(endpoint)
        }
        let rest = bytes.count - offset
        guard rest % 32 == 0, rest / 32 <= Self.maximumFriends else { return nil }
        var friends: [PeerID] = []
        while offset < bytes.count {
            guard let id = PeerID(publicKeyBytes: Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 32)]))) else { return nil }
            friends.append(id)
            offset += 32
        }
        localEndpoints = endpoints
        self.friends = friends
    }

    func encode(into bytes: inout [UInt8]) {
        let endpoints = localEndpoints.prefix(Self.maximumEndpoints)
        bytes.append(UInt8(endpoints.count))
        for endpoint in endpoints { EndpointCodec.encode(endpoint, into: &bytes) }
        for id in friends.prefix(Self.maximumFriends) { bytes.append(contentsOf: id.bytes) }
    }
}

/// `introduction` (0x09): from a mutual friend, "`friend` wants to reach you too; its
/// datagrams reached me from the first endpoint, and it says it is also at the others".
/// Payload:
///
///     0..31 the friend's public key  32 endpoint count  endpoints…
struct Introduction: Equatable {
    static let maximumEndpoints = 9

    var friend: PeerID
    var endpoints: [InetSocketAddress]

    init(friend: PeerID, endpoints: [InetSocketAddress]) {
        self.friend = friend
        self.endpoints = endpoints
    }

    init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 33, Int(bytes[32]) <= Self.maximumEndpoints,
            let friend = PeerID(publicKeyBytes: Array(UnsafeRawBufferPointer(rebasing: bytes[0..<32])))
        else { return nil }
        var offset = 33
        var endpoints: [InetSocketAddress] = []
        for _ in 0..<Int(bytes[32]) {
            guard let endpoint = EndpointCodec.parse(bytes, at: &offset) else { return nil }
            endpoints.append(endpoint)
        }
        guard offset == bytes.count else { return nil }
        self.friend = friend
        self.endpoints = endpoints
    }

    func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: friend.bytes)
        let endpoints = endpoints.prefix(Self.maximumEndpoints)
        bytes.append(UInt8(endpoints.count))
        for endpoint in endpoints { EndpointCodec.encode(endpoint, into: &bytes) }
    }
}
