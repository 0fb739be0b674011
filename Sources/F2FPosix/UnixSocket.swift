import CF2FSystem
import Glibc

/// Socket set-up calls used by the VDE server, the console and the tests. Every socket is
/// created non-blocking and close-on-exec.
public enum UnixSocket {
    public static func makeStream() throws(SystemError) -> Descriptor {
        Descriptor(taking: try checkedSyscall("socket(AF_UNIX, SOCK_STREAM)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
    }

    public static func makeDatagram() throws(SystemError) -> Descriptor {
        Descriptor(taking: try checkedSyscall("socket(AF_UNIX, SOCK_DGRAM)") {
            socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
    }

    public static func bind(_ raw: Int32, to address: UnixSocketAddress) throws(SystemError) {
        _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
            try checkedSyscall("bind(\(address))") { Glibc.bind(raw, pointer, length) }
        }
    }

    public static func listen(_ raw: Int32, backlog: Int32) throws(SystemError) {
        try checkedSyscall("listen") { Glibc.listen(raw, backlog) }
    }

    /// Connects; a non-blocking stream connect to a unix socket completes at once or fails.
    public static func connect(_ raw: Int32, to address: UnixSocketAddress) throws(SystemError) {
        _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
            try checkedSyscall("connect(\(address))") { Glibc.connect(raw, pointer, length) }
        }
    }

    public static func accept(_ raw: Int32) throws(SystemError) -> Descriptor? {
        switch try syscall("accept4", { cf2f_accept4(raw, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)) }) {
        case .processed(let fd): return Descriptor(taking: fd)
        case .wouldBlock: return nil
        }
    }

    /// Sets the send buffer, past `wmem_max` when privileged (`SO_SNDBUFFORCE`): a small buffer
    /// makes a batching sender drop bursts to a receiver that is only briefly slow.
    public static func setSendBufferSize(_ descriptor: Int32, bytes: Int32) {
        var size = bytes
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, SO_SNDBUFFORCE, &size, length) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, length)
        }
    }

    public static func setReceiveBufferSize(_ descriptor: Int32, bytes: Int32) {
        var size = bytes
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &size, length) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, length)
        }
    }

    /// Reads what is available into `buffer`: `.processed(0)` is end of stream.
    public static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        switch try syscall("read", { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }) {
        case .processed(let count): return .processed(count)
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Reads what waits, up to `limit` bytes, onto the end of `input`, with no buffer of its own;
    /// nil when the peer closed or the read failed. The line-oriented servers' (console,
    /// capture) one way in.
    public static func readAppending(_ descriptor: Int32, to input: inout [UInt8], limit: Int) -> IOResult<Int>? {
        let start = input.count
        input.append(contentsOf: repeatElement(0, count: limit))
        let result = input.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try read(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...])) }
        }
        let kept: Int? = switch result {
        case .failure, .success(.processed(0)): nil
        case .success(.wouldBlock): 0
        case .success(.processed(let count)): count
        }
        input.removeSubrange((start + (kept ?? 0))...)
        guard let kept else { return nil }
        return kept == 0 ? .wouldBlock : .processed(kept)
    }

    /// Writes what the socket takes now; partial writes are normal. Never raises SIGPIPE.
    public static func write(_ descriptor: Int32, from buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        switch try syscall("send", { Glibc.send(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }) {
        case .processed(let count): return .processed(count)
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Sends one datagram to `address` from an unconnected socket. Never raises SIGPIPE.
    public static func send(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, to address: UnixSocketAddress) throws(SystemError) -> IOResult<Int> {
        try address.withSockaddr { (pointer, length) throws(SystemError) in
            try syscall("sendto") { Glibc.sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), pointer, length) }
        }
    }

    /// Is something accepting connections at `address`? (Stale socket detection.)
    public static func isListening(at address: UnixSocketAddress) -> Bool {
        guard let probe = try? makeStream() else { return false }
        do {
            try connect(probe.rawValue, to: address)
            return true
        } catch {
            // EAGAIN means a live listener with a full backlog.
            return error.errno == EAGAIN
        }
    }
}
