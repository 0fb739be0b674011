import F2FPosix
import F2FSecure

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
