import CF2FSystem
import Glibc

/// Datagrams for many addresses, built in preallocated slots and sent with one `sendmmsg`
/// (friend links over UDP): the UDP path stages what one engine batch produces and sends it
/// at the batch's end, so a burst of frames costs one system call instead of one per datagram.
///
/// With segmentation on (UDP GSO, `UDP_SEGMENT`), consecutive datagrams to one address of one
/// size (the last of a run may be shorter) go as one message: the kernel passes the run
/// through its UDP/IP stack once and cuts it into datagrams at the device, or on loopback hands
/// it whole to a receiver that coalesces (`UDP_GRO`). The wire is unchanged. A kernel or route
/// that refuses segmentation turns it off for this batch (counted in `segmentationRefusals`);
/// the refused run is sent again one datagram at a time. Nothing allocates after `init`.
public final class InetSendBatch {
    /// Never block the loop; a vanished receiver is an error return, not SIGPIPE.
    private static let flags = Int32(MSG_DONTWAIT | MSG_NOSIGNAL)
    /// Datagrams per segmented message (the kernel's UDP_MAX_SEGMENTS is 64 before 6.x, 128
    /// since) and bytes (one IPv4 packet's UDP payload at most).
    static let maximumSegments = 64
    static let maximumSegmentedBytes = 65_507
    public let capacity: Int
    /// The largest datagram a slot holds.
    public let slotSize: Int
    private let slots: AddressedSlots
    public private(set) var count = 0
    /// Whether runs of equal datagrams go as one segmented message.
    public private(set) var segmentation: Bool
    /// Runs the kernel refused to segment (the first turns segmentation off), and segmented
    /// messages and the datagrams they carried, for `limits/print`.
    public private(set) var segmentationRefusals: UInt64 = 0
    public private(set) var segmentedMessages: UInt64 = 0
    public private(set) var segmentedDatagrams: UInt64 = 0
    /// One message per run of datagrams, its `UDP_SEGMENT` control message and its first slot.
    private let runs: UnsafeMutablePointer<cf2f_mmsghdr>
    private let runControls: UnsafeMutableRawPointer
    private let runStarts: UnsafeMutablePointer<Int>

    public init(capacity: Int, slotSize: Int, segmentation: Bool = true) {
        self.capacity = capacity
        self.slotSize = slotSize
        self.segmentation = segmentation
        slots = AddressedSlots(capacity: capacity, slotSize: slotSize, length: 0)
        runs = .allocate(capacity: capacity)
        runs.initialize(repeating: cf2f_mmsghdr(), count: capacity)
        runControls = .allocate(byteCount: capacity * Int(CF2F_UDP_CONTROL_SPACE), alignment: 16)
        runControls.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * Int(CF2F_UDP_CONTROL_SPACE))
        runStarts = .allocate(capacity: capacity + 1)
        runStarts.initialize(repeating: 0, count: capacity + 1)
    }

    deinit {
        slots.deallocate()
        runs.deallocate()
        runControls.deallocate()
        runStarts.deallocate()
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
        if segmentation, count > 1 {
            sendRuns(on: descriptor, refused: refused)
        } else {
            sendEach(0..<count, on: descriptor, refused: refused)
        }
        count = 0
    }

    /// One message per datagram, `range` of the staged ones.
    private func sendEach(_ range: Range<Int>, on descriptor: Int32, refused: (Int) -> Void) {
        var start = range.lowerBound
        while start < range.upperBound {
            let result: IOResult<Int32>
            do {
                result = try syscall("sendmmsg") { cf2f_sendmmsg(descriptor, slots.messages + start, UInt32(range.upperBound - start), Self.flags) }
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
                for index in start..<range.upperBound { refused(index) }
                start = range.upperBound
            }
        }
    }

    /// Groups the staged datagrams into runs (same address, same size but a shorter last one)
    /// and sends one message per run, segmented when it holds more than one datagram.
    private func sendRuns(on descriptor: Int32, refused: (Int) -> Void) {
        let runCount = buildRuns()
        var run = 0
        while run < runCount {
            let result: IOResult<Int32>
            do {
                result = try syscall("sendmmsg") { cf2f_sendmmsg(descriptor, runs + run, UInt32(runCount - run), Self.flags) }
            } catch {
                let slotRange = runStarts[run]..<runStarts[run + 1]
                if slotRange.count > 1 {
                    // Perhaps the segmentation that was refused (EIO: the route's device cannot
                    // checksum; EINVAL: a size it will not segment): the run goes one by one.
                    segmentationRefusals &+= 1
                    var lost = 0
                    sendEach(slotRange, on: descriptor) { index in
                        lost += 1
                        refused(index)
                    }
                    if error.errno == EIO || error.errno == EOPNOTSUPP || error.errno == ENOPROTOOPT || (error.errno == EINVAL && lost == 0) {
                        segmentation = false
                        sendEach(slotRange.upperBound..<count, on: descriptor, refused: refused)
                        return
                    }
                } else {
                    refused(slotRange.lowerBound)
                }
                run += 1
                continue
            }
            switch result {
            case .processed(let sent):
                for index in run..<run + Int(sent) where runStarts[index + 1] - runStarts[index] > 1 {
                    segmentedMessages &+= 1
                    segmentedDatagrams &+= UInt64(runStarts[index + 1] - runStarts[index])
                }
                run += Int(sent)
            case .wouldBlock:
                for index in runStarts[run]..<count { refused(index) }
                run = runCount
            }
        }
    }

    /// Fills `runs` and `runStarts` (one more entry: the end) from the staged datagrams.
    private func buildRuns() -> Int {
        var runCount = 0
        var start = 0
        while start < count {
            let size = slots.vectors[start].iov_len
            var end = start + 1
            var total = size
            while end < count, end - start < Self.maximumSegments, sameAddress(end, as: start) {
                let next = slots.vectors[end].iov_len
                guard next <= size, total + next <= Self.maximumSegmentedBytes else { break }
                total += next
                end += 1
                if next < size { break }  // only the last segment may be shorter
            }
            let message = runs + runCount
            message.pointee.msg_hdr.msg_name = UnsafeMutableRawPointer(slots.names + start)
            message.pointee.msg_hdr.msg_namelen = slots.messages[start].msg_hdr.msg_namelen
            message.pointee.msg_hdr.msg_iov = slots.vectors + start
            message.pointee.msg_hdr.msg_iovlen = end - start
            if end - start > 1 {
                let control = runControls + runCount * Int(CF2F_UDP_CONTROL_SPACE)
                message.pointee.msg_hdr.msg_control = control
                message.pointee.msg_hdr.msg_controllen = cf2f_udp_segment_control(control, UInt16(size))
            } else {
                message.pointee.msg_hdr.msg_control = nil
                message.pointee.msg_hdr.msg_controllen = 0
            }
            runStarts[runCount] = start
            runCount += 1
            start = end
        }
        runStarts[runCount] = count
        return runCount
    }

    @inline(__always)
    private func sameAddress(_ index: Int, as other: Int) -> Bool {
        let length = slots.messages[index].msg_hdr.msg_namelen
        return length == slots.messages[other].msg_hdr.msg_namelen
            && memcmp(slots.names + index, slots.names + other, Int(length)) == 0
    }
}

/// Preallocated `recvmmsg` slots with their senders' addresses (friend links over UDP): one
/// system call drains up to `capacity` datagrams with no allocation. On a socket with
/// `UDP_GRO` on (`InetDatagramSocket.enableCoalescing`), a slot may hold a run of datagrams
/// from one sender the kernel coalesced, each `segmentSize(_:)` bytes but the last; slots must
/// then hold `coalescedSlotSize` bytes.
public final class InetReceiveBatch {
    /// The largest run the kernel hands one slot (a UDP payload over IPv6 at most).
    public static let coalescedSlotSize = 65_536
    public let capacity: Int
    /// The largest datagram a slot holds; a longer one is cut and reported by `isTruncated`.
    public let slotSize: Int
    private let slots: AddressedSlots
    /// Per slot, room for the `UDP_GRO` control message.
    private let controls: UnsafeMutableRawPointer
    public private(set) var count = 0

    public init(capacity: Int, slotSize: Int) {
        self.capacity = capacity
        self.slotSize = slotSize
        slots = AddressedSlots(capacity: capacity, slotSize: slotSize, length: slotSize)
        controls = .allocate(byteCount: capacity * Int(CF2F_UDP_CONTROL_SPACE), alignment: 16)
        controls.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * Int(CF2F_UDP_CONTROL_SPACE))
        for index in 0..<capacity {
            slots.messages[index].msg_hdr.msg_control = controls + index * Int(CF2F_UDP_CONTROL_SPACE)
        }
    }

    deinit {
        slots.deallocate()
        controls.deallocate()
    }

    /// Receives up to `limit` (at most `capacity`) slots without blocking: what the reader
    /// has no room for stays in the socket's buffer.
    public func receive(from descriptor: Int32, limit: Int? = nil) throws(SystemError) -> IOResult<Int> {
        let wanted = min(limit ?? capacity, capacity)
        for index in 0..<wanted {
            slots.messages[index].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            slots.messages[index].msg_hdr.msg_controllen = Int(CF2F_UDP_CONTROL_SPACE)
            slots.messages[index].msg_hdr.msg_flags = 0
        }
        count = 0
        switch try syscall("recvmmsg", { cf2f_recvmmsg(descriptor, slots.messages, UInt32(wanted), Int32(MSG_DONTWAIT)) }) {
        case .processed(let received):
            count = Int(received)
            return .processed(count)
        case .wouldBlock:
            return .wouldBlock
        }
    }

    /// Datagram `index` of the last receive, writable (opened in place); valid until the next.
    /// A coalesced slot holds several datagrams, each `segmentSize(index)` bytes but the last.
    @inline(__always)
    public func datagram(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: slots.storage + index * slotSize, count: min(Int(slots.messages[index].msg_len), slotSize))
    }

    /// The size of the datagrams the kernel coalesced into slot `index`, or 0 when it holds
    /// one datagram.
    @inline(__always)
    public func segmentSize(_ index: Int) -> Int {
        guard slots.messages[index].msg_hdr.msg_controllen > 0 else { return 0 }
        // `msg_hdr` opens the `mmsghdr`.
        return Int(cf2f_udp_gro_segment_size(UnsafeRawPointer(slots.messages + index).assumingMemoryBound(to: msghdr.self)))
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
