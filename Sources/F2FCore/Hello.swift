import F2FBase

/// The first packet each side sends: protocol magic and version, node id, display name.
public struct Hello: Equatable, Sendable {
    public static let magic: [UInt8] = Array("F2FS".utf8)
    public static let currentVersion: UInt8 = 1
    public static let maximumNameCount = 64
    public static let maximumEncodedCount = Field.name + maximumNameCount

    enum Field {
        static let magic = 0
        static let version = 4
        static let nodeID = 5
        static let name = 13
    }

    public var version: UInt8
    public var nodeID: UInt64
    public var name: String

    public init(nodeID: UInt64, name: String, version: UInt8 = Hello.currentVersion) {
        self.version = version
        self.nodeID = nodeID
        // Cut on a character boundary, never inside a UTF-8 sequence.
        var kept = ""
        for character in name {
            guard kept.utf8.count + character.utf8.count <= Self.maximumNameCount else { break }
            kept.append(character)
        }
        self.name = kept
    }

    public init(parsing bytes: Span<UInt8>) throws(HelloError) {
        guard bytes.count >= Field.name else { throw .malformed("hello of \(bytes.count) bytes") }
        for index in 0..<4 where bytes[Field.magic + index] != Self.magic[index] {
            throw .notF2F
        }
        version = bytes[Field.version]
        guard version == Self.currentVersion else { throw .versionMismatch(theirs: version) }
        nodeID = UInt64(bytes.bigEndianUInt32(at: Field.nodeID)) << 32 | UInt64(bytes.bigEndianUInt32(at: Field.nodeID + 4))
        guard bytes.count - Field.name <= Self.maximumNameCount else { throw .malformed("name longer than \(Self.maximumNameCount) bytes") }
        var nameBytes: [UInt8] = []
        for index in Field.name..<bytes.count { nameBytes.append(bytes[index]) }
        // Invalid UTF-8 is refused, not repaired: a repaired name could grow past the limit.
        guard let name = String(validating: nameBytes, as: UTF8.self) else { throw .malformed("name is not UTF-8") }
        self.name = name
    }

    public func encode(into bytes: inout [UInt8]) {
        bytes += Self.magic
        bytes.append(version)
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: nodeID >> 32))
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: nodeID))
        bytes += Array(name.utf8)
    }
}

public enum HelloError: Error, Equatable, Sendable, CustomStringConvertible {
    case notF2F
    case versionMismatch(theirs: UInt8)
    case malformed(String)
    case unexpectedPacket(F2FPacketType)

    public var description: String {
        switch self {
        case .notF2F: "not an F2F peer (bad magic)"
        case .versionMismatch(let theirs): "protocol version mismatch: theirs \(theirs), ours \(Hello.currentVersion)"
        case .malformed(let what): "malformed hello: \(what)"
        case .unexpectedPacket(let type): "expected hello, got \(type)"
        }
    }
}
