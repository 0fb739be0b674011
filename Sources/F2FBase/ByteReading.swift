/// Fixed-offset readers for wire formats. Callers check the length once up front
/// (`requireCount`); after that no read can trap (smoltcp's contract).
extension Span where Element == UInt8 {
    /// Throws unless at least `count` bytes are present.
    public func requireCount(_ needed: Int) throws(WireError) {
        guard count >= needed else {
            throw WireError.truncated(needed: needed, available: count)
        }
    }

    public func bigEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    public func bigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndianUInt16(at: offset)) << 16 | UInt32(bigEndianUInt16(at: offset + 2))
    }

    public func littleEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    public func littleEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndianUInt16(at: offset)) | UInt32(littleEndianUInt16(at: offset + 2)) << 16
    }

    /// Six bytes as the low 48 bits of a UInt64, first byte most significant.
    public func bigEndianUInt48(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in offset..<(offset + 6) {
            value = value << 8 | UInt64(self[index])
        }
        return value
    }
}

extension Array where Element == UInt8 {
    public mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func appendBigEndian(_ value: UInt32) {
        appendBigEndian(UInt16(truncatingIfNeeded: value >> 16))
        appendBigEndian(UInt16(truncatingIfNeeded: value))
    }

    public mutating func appendLittleEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
    }

    public mutating func appendLittleEndian(_ value: UInt32) {
        appendLittleEndian(UInt16(truncatingIfNeeded: value))
        appendLittleEndian(UInt16(truncatingIfNeeded: value >> 16))
    }

    public mutating func appendBigEndianUInt48(_ value: UInt64) {
        for shift in stride(from: 40, through: 0, by: -8) {
            append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}
