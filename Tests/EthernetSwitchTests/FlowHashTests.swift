import EthernetSwitch
import Testing

/// The flow hash of the friend link's fair queue: one TCP connection's frames share a hash
/// whatever they carry, another port, address or protocol makes another flow, VLAN tags are
/// looked through, IPv4 fragments keep one flow, non-IP frames hash on their MACs, and the
/// seed changes every hash.
@Suite struct FlowHashTests {
    static let macs: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]

    /// An IPv4 frame: `proto`, 10.0.0.1 -> 10.0.0.`destination`, ports, then `payload`.
    static func ipv4(proto: UInt8 = 6, destination: UInt8 = 2, sourcePort: UInt16 = 40000, destinationPort: UInt16 = 5201,
                     fragment: UInt16 = 0x4000, tag: UInt16? = nil, payload: [UInt8] = []) -> [UInt8] {
        var frame = macs
        if let tag { frame += [0x81, 0x00, UInt8(tag >> 8), UInt8(tag & 0xFF)] }
        frame += [0x08, 0x00]
        frame += [0x45, 0, 0, 40, 0x12, 0x34, UInt8(fragment >> 8), UInt8(fragment & 0xFF), 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, destination]
        frame += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xFF)]
        frame += [UInt8](repeating: 0, count: 16) + payload
        return frame
    }

    static func ipv6(sourcePort: UInt16 = 40000) -> [UInt8] {
        var frame = macs + [0x86, 0xDD]
        frame += [0x60, 0, 0, 0, 0, 20, 6, 64]
        frame += [0xFD] + [UInt8](repeating: 0, count: 14) + [1]
        frame += [0xFD] + [UInt8](repeating: 0, count: 14) + [2]
        frame += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), 0x14, 0x51] + [UInt8](repeating: 0, count: 16)
        return frame
    }

    static func hash(_ frame: [UInt8], seed: UInt32 = 1) -> UInt32 {
        frame.withUnsafeBytes { FlowHash.hash($0, seed: seed) }
    }

    @Test func oneConnectionIsOneFlowWhateverItCarries() {
        #expect(Self.hash(Self.ipv4(payload: [1, 2, 3])) == Self.hash(Self.ipv4(payload: [9, 9, 9, 9, 9])))
        #expect(Self.hash(Self.ipv6()) == Self.hash(Self.ipv6() + [7, 7]))
    }

    @Test func portsAddressesAndProtocolsMakeOtherFlows() {
        let base = Self.hash(Self.ipv4())
        #expect(Self.hash(Self.ipv4(sourcePort: 40001)) != base)
        #expect(Self.hash(Self.ipv4(destinationPort: 22)) != base)
        #expect(Self.hash(Self.ipv4(destination: 3)) != base)
        #expect(Self.hash(Self.ipv4(proto: 17)) != base)
        #expect(Self.hash(Self.ipv6(sourcePort: 40001)) != Self.hash(Self.ipv6()))
    }

    @Test func icmpHashesOnAddressesAlone() {
        // A ping's frames (ICMP has no ports) share a flow whatever their identifier bytes.
        let first = Self.ipv4(proto: 1, sourcePort: 0x0800, destinationPort: 1)
        let second = Self.ipv4(proto: 1, sourcePort: 0x0800, destinationPort: 2)
        #expect(Self.hash(first) == Self.hash(second))
        #expect(Self.hash(first) != Self.hash(Self.ipv4()))
    }

    @Test func aVLANTagIsLookedThrough() {
        #expect(Self.hash(Self.ipv4(tag: 10)) == Self.hash(Self.ipv4(tag: 10, payload: [5])))
        #expect(Self.hash(Self.ipv4(sourcePort: 1, tag: 10)) != Self.hash(Self.ipv4(tag: 10)))
    }

    @Test func fragmentsOfOneDatagramShareAFlow() {
        // A later fragment's "ports" are payload bytes: every fragment hashes on addresses only.
        let first = Self.ipv4(proto: 17, fragment: 0x2000)
        let later = Self.ipv4(proto: 17, sourcePort: 0xABCD, destinationPort: 0x1234, fragment: 0x00B9)
        #expect(Self.hash(first) == Self.hash(later))
    }

    @Test func nonIPFramesHashOnTheirMACsAndType() {
        let arp = Self.macs + [0x08, 0x06] + [UInt8](repeating: 1, count: 28)
        var otherSender = arp
        otherSender[11] = 9
        #expect(Self.hash(arp) == Self.hash(Self.macs + [0x08, 0x06] + [UInt8](repeating: 2, count: 28)))
        #expect(Self.hash(arp) != Self.hash(otherSender))
        // Too short for an Ethernet header: still a hash, no trap.
        _ = Self.hash([1, 2, 3])
        _ = Self.hash([])
    }

    @Test func theSeedChangesTheHash() {
        #expect(Self.hash(Self.ipv4(), seed: 1) != Self.hash(Self.ipv4(), seed: 2))
    }
}
