import F2FPosix
import Foundation
import Glibc
import Testing

/// `sendmmsg`/`recvmmsg` batches of the UDP path over real loopback UDP sockets: datagrams
/// arrive whole and in order with their sender, a long one is flagged as cut, and a datagram
/// the socket refuses is reported alone while the rest go.
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
