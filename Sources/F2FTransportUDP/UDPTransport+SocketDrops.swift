import F2FPosix

extension UDPTransport {
    /// Datagrams the kernel dropped because the sockets' receive buffers were full (the switch
    /// fell behind), and the largest buffer granted, for `limits/print`. Read on demand, not
    /// counted per datagram.
    public var socketOverflows: (drops: UInt64, receiveBuffer: Int) {
        var drops: UInt64 = 0
        var largest = 0
        for socket in sockets {
            guard let memory = SocketMemory.receiveBufferAndDrops(socket.descriptor.rawValue) else { continue }
            drops &+= memory.drops
            largest = max(largest, memory.receiveBuffer)
        }
        return (drops, largest)
    }
}
