import EthernetSwitch
import F2FBase
import F2FTesting
import Testing

/// MSS clamping on frames that cross a friend link over UDP: byte-exact against frames whose
/// checksums were computed in full by an independent implementation (Python, summing the
/// pseudo-header and segment), so the incremental update (RFC 1624) is checked, not trusted.
@Suite struct TCPMSSClampTests {
    /// The largest frame one 1200-byte datagram payload carries (an F2F header of 3 bytes).
    static let maximumFrame = 1197

    /// IPv4 SYN announcing MSS 1460 with Linux's options (the fixture other targets use too).
    static let ipv4Syn = Fixture.bytes("ethernet/tcp-syn-ipv4-mss1460.hex")

    static func bytes(_ hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { offset in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    static func clamp(_ frame: [UInt8], maximumFrame: Int = maximumFrame) -> (changed: Bool, frame: [UInt8]) {
        var copy = frame
        let changed = copy.withUnsafeMutableBytes { TCPMSSClamp.clamp($0, maximumFrameCount: maximumFrame) }
        return (changed, copy)
    }

    /// IPv4 SYN, Linux options (MSS 1460, SACK, timestamps, window scale): 1197 − 14 − 40.
    @Test func anIPv4SynAnnouncing1460IsClampedTo1143() {
        let input = Self.ipv4Syn
        let expected = Self.bytes("02000000000202000000000108004500003c12344000400614860a0000010a0000029c4014511122334400000000a002faf063100000020404770402080a0001e2400000000001030307")
        let result = Self.clamp(input)
        #expect(result.changed)
        #expect(result.frame == expected)
        // Clamping again changes nothing.
        #expect(Self.clamp(expected) == (false, expected))
    }

    /// IPv6 SYN-ACK (MSS 1440): 1197 − 14 − 60.
    @Test func anIPv6SynAckAnnouncing1440IsClampedTo1123() {
        let input = Self.bytes("02000000000202000000000186dd6000000000280640fd000000000000000000000000000001fd0000000000000000000000000000029c4014511122334455667788a012faf0aee60000020405a00402080a0001e2400000000001030307")
        let expected = Self.bytes("02000000000202000000000186dd6000000000280640fd000000000000000000000000000001fd0000000000000000000000000000029c4014511122334455667788a012faf0b0230000020404630402080a0001e2400000000001030307")
        let result = Self.clamp(input)
        #expect(result.changed)
        #expect(result.frame == expected)
        // Clamping again changes nothing.
        #expect(Self.clamp(expected) == (false, expected))
    }

    /// 802.1Q-tagged IPv4 SYN (VLAN 10): 1197 − 18 − 40.
    @Test func an8021QTaggedSynIsClampedForItsLongerHeader() {
        let input = Self.bytes("0200000000020200000000018100000a08004500003c12344000400614860a0000010a0000029c4014511122334400000000a002faf061d30000020405b40402080a0001e2400000000001030307")
        let expected = Self.bytes("0200000000020200000000018100000a08004500003c12344000400614860a0000010a0000029c4014511122334400000000a002faf063140000020404730402080a0001e2400000000001030307")
        let result = Self.clamp(input)
        #expect(result.changed)
        #expect(result.frame == expected)
        // Clamping again changes nothing.
        #expect(Self.clamp(expected) == (false, expected))
    }

    /// A NOP before the MSS option puts its value at an odd offset: the checksum update swaps bytes.
    @Test func anMSSOptionAtAnOddOffsetKeepsTheChecksumRight() {
        let input = Self.bytes("02000000000202000000000108004500003012344000400614920a0000010a0000029c40145111223344000000007002faf0d1e5000001020405b4010101")
        let expected = Self.bytes("02000000000202000000000108004500003012344000400614920a0000010a0000029c40145111223344000000007002faf00ee700000102040477010101")
        let result = Self.clamp(input)
        #expect(result.changed)
        #expect(result.frame == expected)
        // Clamping again changes nothing.
        #expect(Self.clamp(expected) == (false, expected))
    }

    /// A SYN announcing less than the path carries, a segment without SYN, an IPv4 fragment, UDP,
    /// ARP: untouched.
    @Test func framesThatNeedNoClampAreUntouched() {
        let syn = Self.ipv4Syn
        // The same SYN over a path with room: 1460 fits a 1514-byte frame exactly.
        #expect(Self.clamp(syn, maximumFrame: 1514) == (false, syn))
        var ack = syn
        ack[47] = 0x10  // flags: ACK only
        #expect(Self.clamp(ack) == (false, ack))
        var fragment = syn
        fragment[21] = 0x10  // fragment offset 16
        #expect(Self.clamp(fragment) == (false, fragment))
        var udp = syn
        udp[23] = 17
        #expect(Self.clamp(udp) == (false, udp))
        var arp = syn
        arp[12] = 0x08
        arp[13] = 0x06
        #expect(Self.clamp(arp) == (false, arp))
    }

    /// Every truncated prefix of a SYN, and 10 000 random buffers (half of them made to look
    /// like IPv4 or IPv6 TCP SYNs), never trap; a prefix cut before the options end is not changed.
    @Test func truncatedAndRandomFramesNeverTrap() {
        for source in [Self.ipv4Syn, Self.bytes("02000000000202000000000186dd6000000000280640fd000000000000000000000000000001fd0000000000000000000000000000029c4014511122334455667788a012faf0aee60000020405a00402080a0001e2400000000001030307")] {
            for count in 0..<source.count {
                let prefix = Array(source.prefix(count))
                let result = Self.clamp(prefix)
                #expect(result.frame.count == count)
                #expect(result.frame == prefix)  // the options end where the frame does
            }
        }
        var generator = SeededGenerator(seed: 1624)
        for round in 0..<10_000 {
            var frame = (0..<Int.random(in: 0...120, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0, frame.count > 70 {
                let isIPv6 = round % 4 == 0
                frame[12] = isIPv6 ? 0x86 : 0x08
                frame[13] = isIPv6 ? 0xDD : 0x00
                frame[14] = isIPv6 ? 0x60 : 0x45
                frame[isIPv6 ? 20 : 23] = 6
                if !isIPv6 { frame[20] = 0; frame[21] = 0 }
                frame[isIPv6 ? 67 : 47] |= 0x02
            }
            _ = Self.clamp(frame, maximumFrame: Int.random(in: 0...9000, using: &generator))
        }
    }
}
