
/// Modes and group of the socket directory and its sockets, derived as vde_switch does
/// (`-m/--mode`, `--dirmode`, `-g/--group`; docs/vde-protocol.md 1.1).
public struct SocketPermissions: Equatable, Sendable {
    /// Mode of `ctl` and of every data socket.
    public var socketMode: UInt32
    /// Mode of the directory.
    public var directoryMode: UInt32
    /// Group that owns the directory and sockets; nil keeps the creator's.
    public var groupID: UInt32?

    public init(socketMode: UInt32? = nil, directoryMode: UInt32? = nil, groupID: UInt32? = nil) {
        switch (socketMode, directoryMode) {
        case (let socket?, let directory?):
            self.socketMode = socket
            self.directoryMode = directory
        case (let socket?, nil):
            self.socketMode = socket
            self.directoryMode = Self.directoryMode(forSocketMode: socket)
        case (nil, let directory?):
            self.socketMode = directory & 0o666
            self.directoryMode = directory
        case (nil, nil):
            self.socketMode = 0o600
            self.directoryMode = 0o2700
        }
        self.groupID = groupID
    }

    /// setgid, plus for each of user/group/other the read/write bits of the socket mode and
    /// search permission wherever any of them is set: 600 → 2700, 660 → 2770, 666 → 2777.
    public static func directoryMode(forSocketMode mode: UInt32) -> UInt32 {
        var directory: UInt32 = 0o2000
        for shift: UInt32 in [6, 3, 0] {
            let readWrite = (mode >> shift) & 0o6
            if readWrite != 0 { directory |= (readWrite | 0o1) << shift }
        }
        return directory
    }

    /// Parses an octal mode such as `600` or `0660`.
    public static func parseMode(_ text: String) -> UInt32? {
        guard !text.isEmpty, let value = UInt32(text, radix: 8), value <= 0o7777 else { return nil }
        return UInt32(value)
    }
}
