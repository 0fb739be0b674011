import F2FPosix

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
