import F2FBase
import F2FCore

/// Framing helpers for tests: build the bytes of F2F packets and split a recorded stream back
/// into packets, independently of `PacketAssembler` and `OutboundSlot`.
public enum PacketBytes {
    public struct Packet: Equatable, CustomStringConvertible {
        public var type: F2FPacketType
        public var payload: [UInt8]

        public init(type: F2FPacketType, payload: [UInt8]) {
            self.type = type
            self.payload = payload
        }

        /// The payload as UTF-8 (reject reasons, hello names).
        public var text: String {
            String(decoding: payload, as: UTF8.self)
        }

        public var description: String {
            "\(type)(\(payload.count) bytes)"
        }
    }

    /// Header and payload of one packet.
    public static func packet(_ type: F2FPacketType, payload: [UInt8] = []) -> [UInt8] {
        precondition(payload.count <= F2FPacketHeader.maximumPayloadCount, "payload too large for a packet")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(F2FPacketHeader.encodedCount + payload.count)
        bytes.append(type.rawValue)
        bytes.appendBigEndian(UInt16(payload.count))
        bytes += payload
        return bytes
    }

    /// A hello packet carrying `hello`.
    public static func hello(_ hello: Hello) -> [UInt8] {
        var payload: [UInt8] = []
        hello.encode(into: &payload)
        return packet(.hello, payload: payload)
    }

    /// Splits a byte stream into whole packets; `remainder` holds the bytes of an incomplete last one.
    public static func split(_ bytes: [UInt8]) -> (packets: [Packet], remainder: [UInt8]) {
        var packets: [Packet] = []
        var offset = 0
        while bytes.count - offset >= F2FPacketHeader.encodedCount {
            let count = Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let start = offset + F2FPacketHeader.encodedCount
            guard bytes.count - start >= count else { break }
            packets.append(Packet(type: F2FPacketType(rawValue: bytes[offset]), payload: Array(bytes[start..<(start + count)])))
            offset = start + count
        }
        return (packets, Array(bytes[offset...]))
    }

    /// `count` bytes from a seeded generator.
    public static func random(count: Int, using generator: inout SeededGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word = generator.next()
            for _ in 0..<min(8, count - bytes.count) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
    }
}
