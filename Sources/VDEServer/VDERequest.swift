import F2FBase
import F2FPosix

/// The request a VDE client sends on the control stream (docs/vde-protocol.md 1.3, 1.9).
///
/// Integers are host order (little-endian here). Version 3 is what vdeplug4 and QEMU send;
/// version 1 is accepted as vde_switch still does. The description has no NUL terminator.
public struct VDERequest: Equatable, Sendable {
    public static let magic: UInt32 = 0xFEED_FACE
    public static let addressFamilyUnix: UInt16 = 1
    /// vde_switch reads the request with one 256-byte read; we never keep more than that.
    public static let maximumCount = 256

    public enum Layout {
        /// magic, version, type, sockaddr_un (110), description.
        public static let version3HeaderCount = Field.description
        /// magic, type, MAC (6, ignored), sockaddr_un (110), description.
        public static let version1HeaderCount = Version1Field.description
    }

    /// Offsets of a version 3 request (VDE-PROTOCOL.md 1.3).
    public enum Field {
        public static let magic = 0
        public static let version = 4
        public static let type = 8
        public static let clientAddress = 12
        public static let description = 122
    }

    /// Offsets of a version 1 request: no version field, so its type sits where version 3 has
    /// the version (a value below 2 there tells the two apart).
    public enum Version1Field {
        public static let type = 4
        public static let macAddress = 8
        public static let clientAddress = 14
        public static let description = 124
    }

    /// Within the client's `sockaddr_un`.
    enum AddressField {
        static let family = 0
        static let path = 2
    }

    public enum Kind: Equatable, Sendable {
        /// REQ_NEW_CONTROL: a normal port; nil means any free port.
        case newControl(port: Int?)
        /// REQ_NEW_PORT0: the management port 0.
        case newPort0
    }

    public var version: UInt32
    public var kind: Kind
    public var clientAddress: UnixSocketAddress
    /// Raw description bytes, up to the first NUL.
    public var descriptionBytes: [UInt8]
    /// Version 1 carries a MAC address that nobody uses; kept for byte-exact re-encoding.
    public var legacyMACBytes: [UInt8] = Array(repeating: 0, count: 6)

    public init(kind: Kind, clientAddress: UnixSocketAddress, description: String, version: UInt32 = 3) {
        self.version = version
        self.kind = kind
        self.clientAddress = clientAddress
        self.descriptionBytes = Array(description.utf8.prefix(Self.maximumCount - Layout.version3HeaderCount))
    }

    public var description: String {
        String(decoding: descriptionBytes, as: UTF8.self)
    }

    /// Does `bytes` hold a whole header yet? (The description is whatever came with it.)
    public static func isComplete(_ bytes: Span<UInt8>) -> Bool {
        guard bytes.count >= Field.type else { return false }
        let headerCount = bytes.littleEndianUInt32(at: Field.version) < 2 ? Layout.version1HeaderCount : Layout.version3HeaderCount
        return bytes.count >= headerCount
    }

    public init(parsing bytes: Span<UInt8>) throws(VDERequestError) {
        guard bytes.count >= Field.type else { throw .truncated(needed: Field.type, available: bytes.count) }
        let magic = bytes.littleEndianUInt32(at: Field.magic)
        guard magic == Self.magic else { throw .badMagic(magic) }
        let second = bytes.littleEndianUInt32(at: Field.version)
        let typeOffset: Int
        let addressOffset: Int
        let headerCount: Int
        if second < 2 {
            version = 1
            typeOffset = Version1Field.type
            addressOffset = Version1Field.clientAddress
            headerCount = Version1Field.description
        } else if second == 3 {
            version = 3
            typeOffset = Field.type
            addressOffset = Field.clientAddress
            headerCount = Field.description
        } else {
            throw .unsupportedVersion(second)
        }
        // The only length checks: every read below is inside the header.
        guard bytes.count >= headerCount else { throw .truncated(needed: headerCount, available: bytes.count) }
        guard bytes.count <= Self.maximumCount else { throw .oversized(bytes.count) }

        let type = bytes.littleEndianUInt32(at: typeOffset)
        let requestedPort = Int(type >> 8)
        switch type & 0xFF {
        case 0: kind = .newControl(port: requestedPort == 0 ? nil : requestedPort)
        case 1: kind = .newPort0
        default: throw .badRequestType(type & 0xFF)
        }

        let family = bytes.littleEndianUInt16(at: addressOffset + AddressField.family)
        guard family == Self.addressFamilyUnix else { throw .badAddressFamily(family) }
        let pathStart = addressOffset + AddressField.path
        var pathBytes = [UInt8]()
        pathBytes.reserveCapacity(UnixSocketAddress.pathCapacity)
        for index in pathStart..<(pathStart + UnixSocketAddress.pathCapacity) {
            pathBytes.append(bytes[index])
        }
        clientAddress = UnixSocketAddress(pathBytes: pathBytes)
        if version == 1 {
            legacyMACBytes = (Version1Field.macAddress..<Version1Field.clientAddress).map { bytes[$0] }
        }
        var description = [UInt8]()
        for index in headerCount..<bytes.count {
            if bytes[index] == 0 { break }
            description.append(bytes[index])
        }
        descriptionBytes = description
    }

    public var encodedCount: Int {
        (version == 1 ? Layout.version1HeaderCount : Layout.version3HeaderCount) + descriptionBytes.count
    }

    public func encode(into bytes: inout [UInt8]) {
        let type: UInt32
        switch kind {
        case .newControl(let port): type = UInt32(port ?? 0) << 8
        case .newPort0: type = 1
        }
        bytes.appendLittleEndian(Self.magic)
        if version == 1 {
            bytes.appendLittleEndian(type)
            bytes.append(contentsOf: legacyMACBytes)
        } else {
            bytes.appendLittleEndian(UInt32(3))
            bytes.appendLittleEndian(type)
        }
        clientAddress.encode(into: &bytes)
        bytes.append(contentsOf: descriptionBytes)
    }
}

/// Why a control request was refused; the control stream is closed after any of these.
public enum VDERequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case oversized(Int)
    case badMagic(UInt32)
    case unsupportedVersion(UInt32)
    case badRequestType(UInt32)
    case badAddressFamily(UInt16)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "short request: \(available) of \(needed) bytes"
        case .oversized(let count): "request of \(count) bytes exceeds 256"
        case .badMagic(let magic): "bad magic 0x\(String(magic, radix: 16)) (not a VDE client)"
        case .unsupportedVersion(let version): "unsupported protocol version \(version)"
        case .badRequestType(let type): "bad request type \(type)"
        case .badAddressFamily(let family): "client address family \(family) is not AF_UNIX"
        }
    }
}
