/// Lowers the maximum segment size that TCP SYN and SYN-ACK segments announce, in Ethernet
/// frames carrying IPv4 or IPv6 (untagged, 802.1Q or 802.1ad tagged), so that the guests'
/// TCP segments fit the path a frame crosses: what tinc's `ClampMSS` and routers' "clamp MSS to
/// PMTU" do. A friend link over UDP carries a frame in one datagram only up to its payload
/// size; larger frames are fragmented, which costs two datagrams and loses the frame with
/// either. With the MSS clamped, the guests' bulk TCP sends frames that fit one datagram.
///
/// Works in place on a frame we own (a copy in a send or receive slot, never a buffer another
/// owner lent). The TCP checksum is updated incrementally (RFC 1624, equation 3), so the
/// segment stays valid without summing it again. A frame that is not a SYN costs a few header
/// reads; one too short for the headers it claims is left alone.
public enum TCPMSSClamp {
    enum Field {
        static let ipv4Protocol = 9
        static let ipv4Fragment = 6
        static let ipv6NextHeader = 6
        static let tcpDataOffset = 12
        static let tcpFlags = 13
        static let tcpChecksum = 16
    }

    static let tcp: UInt8 = 6
    static let syn: UInt8 = 0x02
    static let mssOption: UInt8 = 2
    /// IP and TCP headers without options, which the MSS excludes (RFC 9293 3.7.1: the MSS
    /// counts data only; senders take TCP options off it themselves).
    static let ipv4Headers = 20 + 20
    static let ipv6Headers = 40 + 20

    /// Clamps `frame`'s MSS option, if it is a TCP SYN with one above what a frame of
    /// `maximumFrameCount` bytes can carry. Returns whether it changed the frame.
    @discardableResult
    public static func clamp(_ frame: UnsafeMutableRawBufferPointer, maximumFrameCount: Int) -> Bool {
        guard let option = oversizeOption(in: UnsafeRawBufferPointer(frame), maximumFrameCount: maximumFrameCount) else { return false }
        let announced = bigEndian(UnsafeRawBufferPointer(frame), option.valueOffset)
        frame[option.valueOffset] = UInt8(option.clamped >> 8)
        frame[option.valueOffset + 1] = UInt8(option.clamped & 0xFF)
        // The checksum sums 16-bit words from the TCP header's start: a value at an odd offset
        // straddles two words, and adds in byte-swapped.
        let odd = (option.valueOffset - option.tcpStart) & 1 == 1
        let checksumOffset = option.tcpStart + Field.tcpChecksum
        let updated = adjust(
            checksum: bigEndian(UnsafeRawBufferPointer(frame), checksumOffset),
            from: odd ? announced.byteSwapped : announced, to: odd ? option.clamped.byteSwapped : option.clamped)
        frame[checksumOffset] = UInt8(updated >> 8)
        frame[checksumOffset + 1] = UInt8(updated & 0xFF)
        return true
    }

    /// Whether `frame` is a TCP SYN whose MSS `clamp` would lower: lets a sender that does not
    /// own the frame copy only the few frames that need it.
    public static func needsClamp(_ frame: UnsafeRawBufferPointer, maximumFrameCount: Int) -> Bool {
        oversizeOption(in: frame, maximumFrameCount: maximumFrameCount) != nil
    }

    /// An MSS option above what the path carries: where its value and the TCP header start.
    struct OversizeOption {
        let valueOffset: Int
        let tcpStart: Int
        let clamped: UInt16
    }

    static func oversizeOption(in frame: UnsafeRawBufferPointer, maximumFrameCount: Int) -> OversizeOption? {
        guard let layer = NetworkLayer(frame) else { return nil }
        let ip = layer.offset
        let tcpStart: Int
        let maximumSegment: Int
        switch layer.etherType {
        case NetworkLayer.ipv4:
            guard frame.count >= ip + 20, frame[ip] >> 4 == 4, frame[ip + Field.ipv4Protocol] == tcp,
                bigEndian(frame, ip + Field.ipv4Fragment) & 0x1FFF == 0  // the first fragment, or whole
            else { return nil }
            tcpStart = ip + Int(frame[ip] & 0x0F) * 4
            maximumSegment = maximumFrameCount - ip - ipv4Headers
        case NetworkLayer.ipv6:
            // Only TCP right after the fixed header, as tinc: SYNs carry no extension headers.
            guard frame.count >= ip + 40, frame[ip] >> 4 == 6, frame[ip + Field.ipv6NextHeader] == tcp else { return nil }
            tcpStart = ip + 40
            maximumSegment = maximumFrameCount - ip - ipv6Headers
        default:
            return nil
        }
        guard frame.count >= tcpStart + 20, frame[tcpStart + Field.tcpFlags] & syn != 0, maximumSegment > 0 else { return nil }
        let optionsEnd = tcpStart + Int(frame[tcpStart + Field.tcpDataOffset] >> 4) * 4
        guard optionsEnd <= frame.count else { return nil }
        var option = tcpStart + 20
        while option < optionsEnd {
            switch frame[option] {
            case 0:  // end of options
                return nil
            case 1:  // no-operation
                option += 1
                continue
            default:
                break
            }
            guard option + 1 < optionsEnd else { return nil }
            let length = Int(frame[option + 1])
            guard length >= 2, option + length <= optionsEnd else { return nil }
            if frame[option] == mssOption, length == 4 {
                guard Int(bigEndian(frame, option + 2)) > maximumSegment else { return nil }
                return OversizeOption(valueOffset: option + 2, tcpStart: tcpStart, clamped: UInt16(maximumSegment))
            }
            option += length
        }
        return nil
    }

    /// RFC 1624 equation 3: HC' = ~(~HC + ~m + m'), in one's complement arithmetic.
    static func adjust(checksum: UInt16, from old: UInt16, to new: UInt16) -> UInt16 {
        var sum = UInt32(~checksum) + UInt32(~old) + UInt32(new)
        sum = (sum & 0xFFFF) + (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16)
        return ~UInt16(truncatingIfNeeded: sum)
    }

    @inline(__always)
    private static func bigEndian(_ frame: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
    }
}
