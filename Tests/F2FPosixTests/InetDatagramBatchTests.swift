import F2FPosix
import Foundation
import Glibc
import Testing

/// `sendmmsg`/`recvmmsg` batches of the UDP path over real loopback UDP sockets: datagrams
/// arrive whole and in order with their sender, a long one is flagged as cut, and a datagram
/// the socket refuses is reported alone while the rest go; runs of equal datagrams go
/// segmented (GSO) and arrive coalesced (GRO) where the receiver asks, and a refused
/// segmentation falls back to single datagrams.
@Suite struct InetDatagramBatchTests {
    /// A UDP socket bound on 127.0.0.1 (ephemeral port), closed when released.
    final class Bound {
        let descriptor: Descriptor
        let address: InetSocketAddress
        var rawValue: Int32 { descriptor.rawValue }

        private init(descriptor: consuming Descriptor, host: InetSocketAddress) {
            address = host.withPort(InetDatagramSocket.boundPort(descriptor.rawValue) ?? 0)
            self.descriptor = descriptor
        }

        static func make() throws -> Bound {
            let any = try #require(try InetStreamSocket.resolve(host: "127.0.0.1", port: 0, passive: true).first)
            var made: Bound?
            try InetDatagramSocket.bind(on: [any], description: "test") { descriptor, _ in made = Bound(descriptor: descriptor, host: any) }
            return try #require(made)
        }
    }

    static func stage(_ bytes: [UInt8], to address: InetSocketAddress, in batch: InetSendBatch) {
        let slot = batch.nextSlot
        slot.copyBytes(from: bytes)
        batch.commit(byteCount: bytes.count, to: address)
    }

    @Test func aBatchArrivesInOrderWithItsSenderAndALongDatagramIsFlagged() throws {
        let sender = try Bound.make(), senderAddress = sender.address
        let receiver = try Bound.make(), receiverAddress = receiver.address
        let datagrams = (0..<8).map { index in [UInt8](repeating: UInt8(index), count: index == 5 ? 150 : 20 + index) }
        let batch = InetSendBatch(capacity: 8, slotSize: 256)
        for datagram in datagrams { Self.stage(datagram, to: receiverAddress, in: batch) }
        #expect(batch.isFull)
        var refused: [Int] = []
        batch.send(on: sender.rawValue) { refused.append($0) }
        #expect(refused.isEmpty)
        #expect(batch.isEmpty)

        let received = InetReceiveBatch(capacity: 4, slotSize: 100)
        let source = DatagramSource()
        var got: [[UInt8]] = []
        var truncated: [Int] = []
        for _ in 0..<2 {
            #expect(try received.receive(from: receiver.rawValue) == .processed(4))
            for index in 0..<4 {
                received.source(index, into: source)
                #expect(source.matches(senderAddress))
                if received.isTruncated(index) { truncated.append(got.count) }
                got.append(Array(received.datagram(index)))
            }
        }
        #expect(try received.receive(from: receiver.rawValue) == .wouldBlock)
        #expect(truncated == [5])
        #expect(got[5] == [UInt8](repeating: 5, count: 100))
        #expect(got.enumerated().filter { $0.offset != 5 }.map(\.element) == datagrams.enumerated().filter { $0.offset != 5 }.map(\.element))
    }

    @Test func aRefusedDatagramIsReportedAloneAndTheRestGo() throws {
        let sender = try Bound.make()
        let receiver = try Bound.make(), receiverAddress = receiver.address
        // An IPv6 destination on an IPv4 socket: the kernel refuses that one message.
        let elsewhere = try #require(try InetStreamSocket.resolve(host: "::1", port: 9, passive: false).first)
        let batch = InetSendBatch(capacity: 4, slotSize: 64)
        Self.stage([1], to: receiverAddress, in: batch)
        Self.stage([2], to: elsewhere, in: batch)
        Self.stage([3], to: receiverAddress, in: batch)
        var refused: [Int] = []
        batch.send(on: sender.rawValue) { refused.append($0) }
        #expect(refused == [1])

        let received = InetReceiveBatch(capacity: 4, slotSize: 64)
        #expect(try received.receive(from: receiver.rawValue) == .processed(2))
        #expect([Array(received.datagram(0)), Array(received.datagram(1))] == [[1], [3]])
    }

    /// Datagrams `count` of `size` bytes (each filled with its index) and a shorter last one.
    static func run(count: Int, size: Int, last: Int) -> [[UInt8]] {
        (0..<count).map { [UInt8](repeating: UInt8($0), count: size) } + [[UInt8](repeating: 0xEE, count: last)]
    }

    /// Receives every datagram waiting on `receiver` through a batch of `capacity` slots of
    /// `slotSize`, coalesced runs cut at their segment size, with the segment sizes seen.
    static func drain(_ receiver: Bound, capacity: Int = 16, slotSize: Int = 2048) throws -> (datagrams: [[UInt8]], segmentSizes: [Int]) {
        let batch = InetReceiveBatch(capacity: capacity, slotSize: slotSize)
        var datagrams: [[UInt8]] = []
        var segmentSizes: [Int] = []
        while case .processed(let count) = try batch.receive(from: receiver.rawValue) {
            for index in 0..<count {
                let bytes = Array(batch.datagram(index))
                let segment = batch.segmentSize(index)
                segmentSizes.append(segment)
                let step = segment > 0 ? segment : max(bytes.count, 1)
                for start in stride(from: 0, to: bytes.count, by: step) { datagrams.append(Array(bytes[start..<min(start + step, bytes.count)])) }
            }
        }
        return (datagrams, segmentSizes)
    }

    /// UDP GSO: equal datagrams to one address (a shorter last one included) leave in one
    /// segmented message and arrive as the same datagrams, in order.
    @Test func aRunOfEqualDatagramsGoesAsOneSegmentedMessage() throws {
        let sender = try Bound.make()
        let receiver = try Bound.make(), receiverAddress = receiver.address
        let datagrams = Self.run(count: 10, size: 300, last: 120)
        let batch = InetSendBatch(capacity: 16, slotSize: 512)
        for datagram in datagrams { Self.stage(datagram, to: receiverAddress, in: batch) }
        var refused: [Int] = []
        batch.send(on: sender.rawValue) { refused.append($0) }
        #expect(refused.isEmpty)
        #expect(batch.segmentation)
        #expect(batch.segmentedMessages == 1)
        #expect(batch.segmentedDatagrams == 11)
        #expect(try Self.drain(receiver).datagrams == datagrams)
    }

    /// UDP GRO: a receiver that coalesces gets the run in one slot, with its segment size.
    @Test func aCoalescingReceiverGetsTheRunInOneSlot() throws {
        let sender = try Bound.make()
        let receiver = try Bound.make(), receiverAddress = receiver.address
        #expect(InetDatagramSocket.enableCoalescing(receiver.rawValue))
        let datagrams = Self.run(count: 20, size: 1000, last: 10)
        let batch = InetSendBatch(capacity: 32, slotSize: 1024)
        for datagram in datagrams { Self.stage(datagram, to: receiverAddress, in: batch) }
        Self.stage([7, 7, 7], to: receiverAddress, in: batch)  // a message of its own: larger than the run's last
        batch.send(on: sender.rawValue) { _ in Issue.record("refused") }
        #expect(batch.segmentedMessages == 1)
        let received = try Self.drain(receiver, slotSize: InetReceiveBatch.coalescedSlotSize)
        #expect(received.segmentSizes == [1000, 0])
        #expect(received.datagrams == datagrams + [[7, 7, 7]])
    }

    /// Runs end at another address and at a datagram larger than the run's size; order per
    /// receiver is kept.
    @Test func runsBreakAtAnotherAddressOrALargerDatagram() throws {
        let sender = try Bound.make()
        let first = try Bound.make(), second = try Bound.make()
        let batch = InetSendBatch(capacity: 16, slotSize: 256)
        let plan: [(UInt8, Int, InetSocketAddress)] = [
            (1, 100, first.address), (2, 100, first.address), (3, 100, second.address), (4, 100, second.address),
            (5, 100, first.address), (6, 200, first.address), (7, 200, first.address),
        ]
        for (fill, size, address) in plan { Self.stage([UInt8](repeating: fill, count: size), to: address, in: batch) }
        batch.send(on: sender.rawValue) { _ in Issue.record("refused") }
        // Runs: 1-2, 3-4, 5, 6-7.
        #expect(batch.segmentedMessages == 3)
        #expect(batch.segmentedDatagrams == 6)
        #expect(try Self.drain(first).datagrams.map { $0[0] } == [1, 2, 5, 6, 7])
        #expect(try Self.drain(second).datagrams.map { $0[0] } == [3, 4])
    }

    /// A socket whose kernel refuses segmentation (here: SO_NO_CHECK, which GSO cannot honour,
    /// so the kernel answers EINVAL) sends the run again one datagram at a time and turns
    /// segmentation off, counted; nothing is lost.
    @Test func aRefusedSegmentationFallsBackToSingleDatagrams() throws {
        let sender = try Bound.make()
        var on: Int32 = 1
        #expect(setsockopt(sender.rawValue, SOL_SOCKET, SO_NO_CHECK, &on, socklen_t(MemoryLayout<Int32>.size)) == 0)
        let receiver = try Bound.make(), receiverAddress = receiver.address
        let datagrams = Self.run(count: 5, size: 64, last: 8)
        let batch = InetSendBatch(capacity: 16, slotSize: 128)
        for datagram in datagrams { Self.stage(datagram, to: receiverAddress, in: batch) }
        batch.send(on: sender.rawValue) { _ in Issue.record("refused") }
        #expect(!batch.segmentation)
        #expect(batch.segmentationRefusals == 1)
        #expect(batch.segmentedMessages == 0)
        #expect(try Self.drain(receiver).datagrams == datagrams)
        // Later batches go one by one from the start.
        for datagram in datagrams { Self.stage(datagram, to: receiverAddress, in: batch) }
        batch.send(on: sender.rawValue) { _ in Issue.record("refused") }
        #expect(batch.segmentationRefusals == 1)
        #expect(try Self.drain(receiver).datagrams == datagrams)
    }

    /// The socket asks for a 1 MiB receive buffer; the kernel grants up to rmem_max, doubled.
    @Test func theReceiveBufferIsRaisedAsFarAsTheKernelAllows() throws {
        let socket = try Bound.make()
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(socket.rawValue, SOL_SOCKET, SO_RCVBUF, &size, &length) == 0)
        let limit = try #require(Int(try String(contentsOfFile: "/proc/sys/net/core/rmem_max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Int(size) == 2 * min(InetDatagramSocket.receiveBufferSize, limit))
    }
}
