import F2FBase

/// The classic pcap file format (what `tcpdump -w` writes and `tcpdump -r`, Wireshark and
/// libpcap read): a 24-byte file header, then per packet a 16-byte record header and the
/// bytes. Written little-endian with the microsecond magic, link type 1 (Ethernet).
public enum PcapFormat {
    public static let fileHeaderCount = 24
    public static let recordHeaderCount = 16
    /// 0xA1B2C3D4 in the writer's byte order: microsecond timestamps.
    static let magic: UInt32 = 0xA1B2_C3D4
    static let linkTypeEthernet: UInt32 = 1
    /// Longer than any frame the switch forwards (at most 65 535 bytes), so none is cut.
    public static let snapLength: UInt32 = 65535

    public static func appendFileHeader(into bytes: inout [UInt8]) {
        bytes.appendLittleEndian(magic)
        bytes.appendLittleEndian(UInt16(2))  // version 2.4
        bytes.appendLittleEndian(UInt16(4))
        bytes.appendLittleEndian(UInt32(0))  // GMT to local correction
        bytes.appendLittleEndian(UInt32(0))  // timestamp accuracy
        bytes.appendLittleEndian(snapLength)
        bytes.appendLittleEndian(linkTypeEthernet)
    }

    /// `microseconds`: since the Unix epoch. The frame's bytes follow the header unchanged.
    @inline(__always)
    public static func appendRecordHeader(into bytes: inout [UInt8], microseconds: Int64, count: Int) {
        let clamped = max(0, microseconds)
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: clamped / 1_000_000))
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: clamped % 1_000_000))
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: count))  // captured: all of it
        bytes.appendLittleEndian(UInt32(truncatingIfNeeded: count))  // on the wire
    }

    /// `appendRecordHeader` into memory the capture owns (16 bytes at `address`).
    @inline(__always)
    public static func storeRecordHeader(at address: UnsafeMutableRawPointer, microseconds: Int64, count: Int) {
        let clamped = max(0, microseconds)
        address.storeBytes(of: UInt32(truncatingIfNeeded: clamped / 1_000_000).littleEndian, toByteOffset: 0, as: UInt32.self)
        address.storeBytes(of: UInt32(truncatingIfNeeded: clamped % 1_000_000).littleEndian, toByteOffset: 4, as: UInt32.self)
        address.storeBytes(of: UInt32(truncatingIfNeeded: count).littleEndian, toByteOffset: 8, as: UInt32.self)
        address.storeBytes(of: UInt32(truncatingIfNeeded: count).littleEndian, toByteOffset: 12, as: UInt32.self)
    }
}
