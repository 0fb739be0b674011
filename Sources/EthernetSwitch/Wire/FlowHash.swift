/// Which flow an Ethernet frame belongs to, as a 32-bit hash, for a per-flow fair queue
/// (FQ-CoDel, RFC 8290 §4.1.1): the 5-tuple of IPv4 and IPv6 packets (addresses, protocol,
/// and the ports of TCP, UDP, SCTP and UDP-Lite, tagged frames included), else the two MAC
/// addresses and the EtherType. So a ping, an SSH session and a bulk download between the same
/// two guests land in different queues, and all the frames of one TCP connection in one.
///
/// `seed` perturbs the hash (the queue draws it once), so that nobody can aim frames at the
/// bucket of someone else's flow. Reads the frame only; a frame too short for the headers it
/// claims hashes on what it has. No allocation.
public enum FlowHash {
    enum Field {
        static let ipv4Protocol = 9
        static let ipv4Fragment = 6
        static let ipv4Source = 12
        static let ipv6NextHeader = 6
        static let ipv6Source = 8
    }


    /// The flow hash of `frame` (starting at its destination MAC).
    public static func hash(_ frame: UnsafeRawBufferPointer, seed: UInt32) -> UInt32 {
        var state = Mixer(seed: seed)
        guard let layer = NetworkLayer(frame) else {
            state.add(bytes: frame, from: 0, count: frame.count)
            return state.value
        }
        let ip = layer.offset
        switch layer.etherType {
        case NetworkLayer.ipv4 where frame.count >= ip + 20 && frame[ip] >> 4 == 4:
            let proto = frame[ip + Field.ipv4Protocol]
            state.add(UInt32(proto))
            state.add(bytes: frame, from: ip + Field.ipv4Source, count: 8)
            // Later fragments carry no ports: the whole fragmented datagram hashes on its
            // addresses alone, and so do its first fragment's.
            let isFragment = NetworkLayer.bigEndian(frame, ip + Field.ipv4Fragment) & 0x3FFF != 0
            if !isFragment { addPorts(frame, at: ip + Int(frame[ip] & 0x0F) * 4, protocol: proto, into: &state) }
        case NetworkLayer.ipv6 where frame.count >= ip + 40 && frame[ip] >> 4 == 6:
            let next = frame[ip + Field.ipv6NextHeader]
            state.add(UInt32(next))
            state.add(bytes: frame, from: ip + Field.ipv6Source, count: 32)
            addPorts(frame, at: ip + 40, protocol: next, into: &state)
        default:
            state.add(bytes: frame, from: 0, count: 12)
            state.add(UInt32(layer.etherType))
        }
        return state.value
    }

    private static func addPorts(_ frame: UnsafeRawBufferPointer, at offset: Int, protocol proto: UInt8, into state: inout Mixer) {
        // TCP, UDP, SCTP, UDP-Lite: both ports in the first four bytes.
        guard proto == 6 || proto == 17 || proto == 132 || proto == 136, frame.count >= offset + 4 else { return }
        state.add(bytes: frame, from: offset, count: 4)
    }

    /// FNV-1a over the chosen bytes, started from the seed, with a final avalanche
    /// (murmur3's fmix32) so that the low bits a bucket index takes depend on every byte.
    struct Mixer {
        private var state: UInt32

        init(seed: UInt32) {
            state = 2_166_136_261 ^ seed
        }

        @inline(__always)
        mutating func add(bytes frame: UnsafeRawBufferPointer, from offset: Int, count: Int) {
            for index in offset..<(offset + count) {
                state = (state ^ UInt32(frame[index])) &* 16_777_619
            }
        }

        @inline(__always)
        mutating func add(_ word: UInt32) {
            state = (state ^ word) &* 16_777_619
        }

        var value: UInt32 {
            var h = state
            h ^= h >> 16
            h = h &* 0x85EB_CA6B
            h ^= h >> 13
            h = h &* 0xC2B2_AE35
            h ^= h >> 16
            return h
        }
    }
}
