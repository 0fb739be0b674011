import Glibc

/// A `sockaddr_un`, either a filesystem path or an abstract name (first byte 0, the whole
/// 108-byte `sun_path` is the name, as user-mode-linux binds it).
public struct UnixSocketAddress: Equatable, Sendable, CustomStringConvertible {
    /// `sizeof(sun_path)` on Linux.
    public static let pathCapacity = 108
    /// `sizeof(struct sockaddr_un)`: the length VDE clients and replies use.
    public static let encodedCount = 110

    /// The 108 `sun_path` bytes, NUL-padded.
    public private(set) var pathBytes: [UInt8]

    public init?(path: String) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < Self.pathCapacity, !bytes.contains(0) else { return nil }
        pathBytes = bytes + repeatElement(0, count: Self.pathCapacity - bytes.count)
    }

    /// Takes the raw `sun_path` bytes as received (padded or cut to 108).
    public init(pathBytes raw: some Collection<UInt8>) {
        let prefix = Array(raw.prefix(Self.pathCapacity))
        pathBytes = prefix + repeatElement(0, count: Self.pathCapacity - prefix.count)
    }

    public var isAbstract: Bool { pathBytes[0] == 0 }

    /// The filesystem path; nil for abstract names.
    public var path: String? {
        guard !isAbstract else { return nil }
        let end = pathBytes.firstIndex(of: 0) ?? pathBytes.endIndex
        return String(decoding: pathBytes[..<end], as: UTF8.self)
    }

    public var description: String {
        path ?? "@abstract"
    }

    /// Calls `body` with a full-length `sockaddr_un`.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R) throws(SystemError) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        return try withUnsafePointer(to: &address) { pointer throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw: UnsafePointer<sockaddr>) throws(SystemError) -> R in
                try body(raw, socklen_t(Self.encodedCount))
            }
        }
    }

    /// The 110-byte wire form: `sun_family` (host order) then `sun_path`.
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(UInt8(AF_UNIX))
        bytes.append(0)
        bytes.append(contentsOf: pathBytes)
    }
}
