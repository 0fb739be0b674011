import CF2FSystem
import Glibc

/// Datagrams for many addresses, built in preallocated slots and sent with one `sendmmsg`
/// (friend links over UDP): the UDP path stages what one engine batch produces and sends it
/// at the batch's end, so a burst of frames costs one system call instead of one per datagram.
/// Nothing allocates after `init`.
public final class InetSendBatch {
    /// Never block the loop; a vanished receiver is an error return, not SIGPIPE.
    private static let flags = Int32(MSG_DONTWAIT | MSG_NOSIGNAL)
    public let capacity: Int
    /// The largest datagram a slot holds.
    public let slotSize: Int
    private let slots: AddressedSlots
    public private(set) var count = 0

    public init(capacity: Int, slotSize: Int) {
        self.capacity = capacity
        self.slotSize = slotSize
        slots = AddressedSlots(capacity: capacity, slotSize: slotSize, length: 0)
    }

    deinit {
        slots.deallocate()
    }

    public var isFull: Bool { count == capacity }
    public var isEmpty: Bool { count == 0 }

    /// The next free slot, to build a datagram in; `commit` stages it. Only while not full.
    @inline(__always)
    public var nextSlot: UnsafeMutableRawBufferPointer {
        precondition(count < capacity, "send batch overflow")
        return UnsafeMutableRawBufferPointer(start: slots.storage + count * slotSize, count: slotSize)
    }

    /// Stages the first `byteCount` bytes of `nextSlot` for `address`.
    @inline(__always)
    public func commit(byteCount: Int, to address: InetSocketAddress) {
        precondition(count < capacity && byteCount <= slotSize, "send batch overflow")
        address.bytes.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(slots.names + count).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            slots.messages[count].msg_hdr.msg_namelen = socklen_t(raw.count)
        }
        slots.vectors[count].iov_len = byteCount
        count += 1
    }

    /// The size of staged datagram `index` (also inside `send`'s `refused`).
    public func byteCount(of index: Int) -> Int {
        slots.vectors[index].iov_len
    }

    /// Sends every staged datagram on `descriptor` and empties the batch. The ones the socket
    /// refuses (its buffer full, the address unreachable) are dropped, as the network would,
    /// and reported by index to `refused`.
    public func send(on descriptor: Int32, refused: (Int) -> Void) {
        var start = 0
        while start < count {
            let result: IOResult<Int32>
            do {
                result = try syscall("sendmmsg") { cf2f_sendmmsg(descriptor, slots.messages + start, UInt32(count - start), Self.flags) }
            } catch {
                // The error belongs to the first datagram not sent: drop it, go on with the rest.
                refused(start)
                start += 1
                continue
            }
            switch result {
            case .processed(let sent):
                start += Int(sent)
            case .wouldBlock:
                for index in start..<count { refused(index) }
                start = count
            }
        }
        count = 0
    }
}

/// Preallocated `recvmmsg` slots with their senders' addresses (friend links over UDP): one
/// system call drains up to `capacity` datagrams with no allocation.
public final class InetReceiveBatch {
    public let capacity: Int
    /// The largest datagram a slot holds; a longer one is cut and reported by `isTruncated`.
    public let slotSize: Int
    private let slots: AddressedSlots
    public private(set) var count = 0

    public init(capacity: Int, slotSize: Int) {
        self.capacity = capacity
        self.slotSize = slotSize
        slots = AddressedSlots(capacity: capacity, slotSize: slotSize, length: slotSize)
    }

    deinit {
        slots.deallocate()
    }

    /// Receives up to `capacity` datagrams without blocking.
    public func receive(from descriptor: Int32) throws(SystemError) -> IOResult<Int> {
        for index in 0..<capacity {
            slots.messages[index].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            slots.messages[index].msg_hdr.msg_flags = 0
        }
        count = 0
        switch try syscall("recvmmsg", { cf2f_recvmmsg(descriptor, slots.messages, UInt32(capacity), Int32(MSG_DONTWAIT)) }) {
        case .processed(let received):
            count = Int(received)
            return .processed(count)
        case .wouldBlock:
            return .wouldBlock
        }
    }

    /// Datagram `index` of the last receive, writable (opened in place); valid until the next.
    @inline(__always)
    public func datagram(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: slots.storage + index * slotSize, count: min(Int(slots.messages[index].msg_len), slotSize))
    }

    /// Whether datagram `index` was longer than a slot (and so cut).
    @inline(__always)
    public func isTruncated(_ index: Int) -> Bool {
        slots.messages[index].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0
    }

    /// Copies datagram `index`'s sender into `source` (a few bytes; no allocation).
    @inline(__always)
    public func source(_ index: Int, into source: DatagramSource) {
        let length = Int(slots.messages[index].msg_hdr.msg_namelen)
        withUnsafeMutableBytes(of: &source.storage) { target in
            target.baseAddress!.copyMemory(from: UnsafeRawPointer(slots.names + index), byteCount: min(length, target.count))
        }
        source.length = socklen_t(min(length, MemoryLayout<sockaddr_storage>.size))
    }
}

/// Slots of `slotSize` bytes, each with room for its peer's address, wired into the `mmsghdr`
/// array that both `sendmmsg` and `recvmmsg` take; the send and the receive batch share it.
struct AddressedSlots {
    let storage: UnsafeMutableRawPointer
    let names: UnsafeMutablePointer<sockaddr_storage>
    let vectors: UnsafeMutablePointer<iovec>
    let messages: UnsafeMutablePointer<cf2f_mmsghdr>

    /// `length`: each slot's initial iovec length (0 to build datagrams in, the slot size to
    /// receive into).
    init(capacity: Int, slotSize: Int, length: Int) {
        storage = .allocate(byteCount: capacity * slotSize, alignment: 16)
        names = .allocate(capacity: capacity)
        vectors = .allocate(capacity: capacity)
        messages = .allocate(capacity: capacity)
        for index in 0..<capacity {
            names[index] = sockaddr_storage()
            vectors[index] = iovec(iov_base: storage + index * slotSize, iov_len: length)
            messages[index] = cf2f_mmsghdr()
            messages[index].msg_hdr.msg_name = UnsafeMutableRawPointer(names + index)
            messages[index].msg_hdr.msg_iov = vectors + index
            messages[index].msg_hdr.msg_iovlen = 1
        }
    }

    func deallocate() {
        storage.deallocate()
        names.deallocate()
        vectors.deallocate()
        messages.deallocate()
    }
}
