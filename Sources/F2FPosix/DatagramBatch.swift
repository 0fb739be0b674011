import CF2FSystem
import Glibc

/// Preallocated `recvmmsg` buffers: one system call drains up to `capacity` datagrams, with no
/// allocation per frame.
public final class ReceiveBatch {
    public let capacity: Int
    public let bufferSize: Int
    /// Writable bytes in front of each buffer, which no receive touches: room for the
    /// switch to insert an 802.1Q tag in place, moving only the addresses.
    public let headroom: Int
    private let storage: UnsafeMutableRawPointer
    /// From one buffer to the next: headroom and buffer.
    private let stride: Int
    private let vectors: UnsafeMutablePointer<iovec>
    private let messages: UnsafeMutablePointer<cf2f_mmsghdr>
    // Counted once per datagram on the loop's thread only: no dynamic exclusivity check.
    @exclusivity(unchecked) public private(set) var count = 0

    /// `bufferSize` should be one more than the largest frame accepted: a longer datagram is
    /// cut to `bufferSize` bytes, which tells the switch it was oversize.
    public init(capacity: Int, bufferSize: Int, headroom: Int = 0) {
        self.capacity = capacity
        self.bufferSize = bufferSize
        self.headroom = headroom
        stride = headroom + bufferSize
        storage = .allocate(byteCount: capacity * stride, alignment: 16)
        vectors = .allocate(capacity: capacity)
        messages = .allocate(capacity: capacity)
        for index in 0..<capacity {
            vectors[index] = iovec(iov_base: storage + index * stride + headroom, iov_len: bufferSize)
            messages[index] = cf2f_mmsghdr()
            messages[index].msg_hdr.msg_iov = vectors + index
            messages[index].msg_hdr.msg_iovlen = 1
        }
    }

    deinit {
        storage.deallocate()
        vectors.deallocate()
        messages.deallocate()
    }

    /// Receives up to `capacity` datagrams without blocking.
    public func receive(from descriptor: Int32) throws(SystemError) -> IOResult<Int> {
        count = 0
        switch try syscall("recvmmsg", { cf2f_recvmmsg(descriptor, messages, UInt32(capacity), Int32(MSG_DONTWAIT)) }) {
        case .processed(let received):
            count = Int(received)
            return .processed(count)
        case .wouldBlock:
            return .wouldBlock
        }
    }

    /// Receives one datagram without blocking, with `recv`: for a socket that most likely holds
    /// just one, this skips `recvmmsg`'s own overhead and its failed try for a second datagram
    /// (together ~0.5 µs, on the path of every lone frame).
    public func receiveOne(from descriptor: Int32) throws(SystemError) -> IOResult<Int> {
        count = 0
        switch try syscall("recv", { recv(descriptor, storage + headroom, bufferSize, Int32(MSG_DONTWAIT)) }) {
        case .processed(let length):
            messages[0].msg_len = UInt32(length)
            count = 1
            return .processed(1)
        case .wouldBlock:
            return .wouldBlock
        }
    }

    /// Datagram `index` of the last receive; valid until the next one.
    @inline(__always)
    public func datagram(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + index * stride + headroom, count: Int(messages[index].msg_len))
    }

    /// Slot `index`'s whole buffer, for frames copied in from links that read one at a time
    /// (its headroom in front, as for received ones).
    public func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + index * stride + headroom, count: bufferSize)
    }
}

/// Frames staged for one connected datagram socket and sent with one `sendmmsg`.
/// Holds pointers only: the bytes must stay valid until `send` returns.
public final class SendBatch {
    /// Never block the loop; a vanished receiver is an error return, not SIGPIPE.
    private static let flags = Int32(MSG_DONTWAIT | MSG_NOSIGNAL)
    public let capacity: Int
    private let vectors: UnsafeMutablePointer<iovec>
    private let messages: UnsafeMutablePointer<cf2f_mmsghdr>
    @exclusivity(unchecked) public private(set) var count = 0

    public init(capacity: Int) {
        self.capacity = capacity
        vectors = .allocate(capacity: capacity)
        messages = .allocate(capacity: capacity)
        for index in 0..<capacity {
            messages[index] = cf2f_mmsghdr()
            messages[index].msg_hdr.msg_iov = vectors + index
            messages[index].msg_hdr.msg_iovlen = 1
        }
    }

    deinit {
        vectors.deallocate()
        messages.deallocate()
    }

    public var isFull: Bool { count == capacity }
    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    public func append(_ frame: UnsafeRawBufferPointer) {
        precondition(count < capacity, "send batch overflow")
        vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: frame.baseAddress), iov_len: frame.count)
        count += 1
    }

    /// The frame staged at `index`.
    public func frame(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: vectors[index].iov_base, count: vectors[index].iov_len)
    }

    public func removeAll() {
        count = 0
    }

    /// Sends the staged frames from `start`; returns how many the socket took (0 if it would
    /// block at once). The caller keeps or drops the rest. A single frame goes with `send`,
    /// which costs less than a one-message `sendmmsg`.
    public func send(on descriptor: Int32, from start: Int = 0) throws(SystemError) -> Int {
        guard start < count else { return 0 }
        if start == count - 1 {
            switch try syscall("send", { Glibc.send(descriptor, vectors[start].iov_base, vectors[start].iov_len, Self.flags) }) {
            case .processed: return 1
            case .wouldBlock: return 0
            }
        }
        return try sendMessages(on: descriptor, from: start)
    }

    /// Sends all staged frames on an unconnected socket, each datagram naming `destination`
    /// (one `sendmmsg`); returns how many the socket took. The kernel resolves the address
    /// for every datagram, as for one `sendto` each: what a sender that never connects pays
    /// (QEMU's dgram netdev), which a load generator must pay too to stand for it.
    public func send(on descriptor: Int32, to destination: UnixSocketAddress) throws(SystemError) -> Int {
        guard count > 0 else { return 0 }
        return try destination.withSockaddr { (address, length) throws(SystemError) in
            for index in 0..<count {
                messages[index].msg_hdr.msg_name = UnsafeMutableRawPointer(mutating: address)
                messages[index].msg_hdr.msg_namelen = length
            }
            defer {
                for index in 0..<count {
                    messages[index].msg_hdr.msg_name = nil
                    messages[index].msg_hdr.msg_namelen = 0
                }
            }
            return try sendMessages(on: descriptor, from: 0)
        }
    }

    /// One `sendmmsg` of the staged messages from `start`; how many the socket took.
    private func sendMessages(on descriptor: Int32, from start: Int) throws(SystemError) -> Int {
        switch try syscall("sendmmsg", { cf2f_sendmmsg(descriptor, messages + start, UInt32(count - start), Self.flags) }) {
        case .processed(let sent): return Int(sent)
        case .wouldBlock: return 0
        }
    }
}
