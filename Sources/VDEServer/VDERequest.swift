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
        public static let version3HeaderCount = 122
        /// magic, type, MAC (6, ignored), sockaddr_un (110), description.
        public static let version1HeaderCount = 124
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
        guard bytes.count >= 8 else { return false }
        let headerCount = bytes.littleEndianUInt32(at: 4) < 2 ? Layout.version1HeaderCount : Layout.version3HeaderCount
        return bytes.count >= headerCount
    }

    public init(parsing bytes: Span<UInt8>) throws(VDERequestError) {
        guard bytes.count >= 8 else { throw .truncated(needed: 8, available: bytes.count) }
        let magic = bytes.littleEndianUInt32(at: 0)
        guard magic == Self.magic else { throw .badMagic(magic) }
        let second = bytes.littleEndianUInt32(at: 4)
        let typeOffset: Int
        let addressOffset: Int
        let headerCount: Int
        if second < 2 {
            // Version 1 has no version field: the request type sits where the version would be.
            version = 1
            typeOffset = 4
            addressOffset = 14
            headerCount = Layout.version1HeaderCount
        } else if second == 3 {
            version = 3
            typeOffset = 8
            addressOffset = 12
            headerCount = Layout.version3HeaderCount
        } else {
            throw .unsupportedVersion(second)
        }
        guard bytes.count >= headerCount else { throw .truncated(needed: headerCount, available: bytes.count) }
        guard bytes.count <= Self.maximumCount else { throw .oversized(bytes.count) }

        let type = bytes.littleEndianUInt32(at: typeOffset)
        let requestedPort = Int(type >> 8)
        switch type & 0xFF {
        case 0: kind = .newControl(port: requestedPort == 0 ? nil : requestedPort)
        case 1: kind = .newPort0
        default: throw .badRequestType(type & 0xFF)
        }

        let family = bytes.littleEndianUInt16(at: addressOffset)
        guard family == Self.addressFamilyUnix else { throw .badAddressFamily(family) }
        var pathBytes = [UInt8]()
        pathBytes.reserveCapacity(UnixSocketAddress.pathCapacity)
        for index in (addressOffset + 2)..<(addressOffset + 2 + UnixSocketAddress.pathCapacity) {
            pathBytes.append(bytes[index])
        }
        clientAddress = UnixSocketAddress(pathBytes: pathBytes)
        if version == 1 {
            legacyMACBytes = (8..<14).map { bytes[$0] }
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
