import F2FPosix
import F2FSecure

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
