import Glibc

/// What the kernel charges a socket and what it dropped (`SO_MEMINFO`, the figures `ss -m`
/// shows): a friend link's UDP socket overflows when the switch falls behind, and those drops
/// happen before any datagram reaches us, so they are read here rather than counted.
public enum SocketMemory {
    /// `SO_MEMINFO` (asm-generic/socket.h); Glibc does not name it.
    private static let optionName: Int32 = 55
    /// `SK_MEMINFO_RCVBUF` and `SK_MEMINFO_DROPS` (linux/sock_diag.h).
    private static let receiveBufferIndex = 1
    private static let dropsIndex = 8
    private static let count = 9

    /// The receive buffer the kernel grants (bytes, as charged) and the datagrams it dropped
    /// for lack of room; nil when the kernel does not tell.
    public static func receiveBufferAndDrops(_ descriptor: Int32) -> (receiveBuffer: Int, drops: UInt64)? {
        var info = [UInt32](repeating: 0, count: count)
        var length = socklen_t(count * MemoryLayout<UInt32>.size)
        let result = info.withUnsafeMutableBytes { getsockopt(descriptor, SOL_SOCKET, optionName, $0.baseAddress, &length) }
        guard result == 0, Int(length) >= count * MemoryLayout<UInt32>.size else { return nil }
        return (Int(info[receiveBufferIndex]), UInt64(info[dropsIndex]))
    }
}
