import F2FPosix
import Glibc
import Testing

/// The batch buffers over a real unix datagram socket pair: single-frame and batched paths
/// must deliver the same datagrams, in order, whole or cut the same way.
@Suite struct DatagramBatchTests {
    @Test func oneDatagramIsTakenAloneAndTheRestFollowInOrder() throws {
        let (sender, receiver) = try datagramPair()
        defer { close(sender); close(receiver) }
        let batch = SendBatch(capacity: 8)
        let frames = (0..<5).map { index in [UInt8](repeating: UInt8(index), count: 60 + index) }
        try send(frames, with: batch, on: sender)

        let received = ReceiveBatch(capacity: 8, bufferSize: 1519)
        #expect(try received.receiveOne(from: receiver) == .processed(1))
        #expect(Array(received.datagram(0)) == frames[0])
        #expect(try received.receive(from: receiver) == .processed(4))
        #expect((0..<4).map { Array(received.datagram($0)) } == Array(frames[1...]))
        #expect(try received.receiveOne(from: receiver) == .wouldBlock)
    }

    @Test func aLoneOversizeDatagramIsCutToTheBufferSize() throws {
        let (sender, receiver) = try datagramPair()
        defer { close(sender); close(receiver) }
        try send([[UInt8](repeating: 7, count: 3000)], with: SendBatch(capacity: 1), on: sender)

        let received = ReceiveBatch(capacity: 4, bufferSize: 1519)
        #expect(try received.receiveOne(from: receiver) == .processed(1))
        #expect(received.datagram(0).count == 1519)
    }

    @Test func aSingleStagedFrameAndABatchBothArrive() throws {
        let (sender, receiver) = try datagramPair()
        defer { close(sender); close(receiver) }
        let batch = SendBatch(capacity: 4)
        let single: [[UInt8]] = [[1, 2, 3]]
        let several: [[UInt8]] = [[4], [5, 6], [7, 8, 9]]
        #expect(try send(single, with: batch, on: sender) == 1)
        #expect(try send(several, with: batch, on: sender) == 3)

        let received = ReceiveBatch(capacity: 8, bufferSize: 64)
        #expect(try received.receive(from: receiver) == .processed(4))
        #expect((0..<4).map { Array(received.datagram($0)) } == single + several)
    }

    /// The switch writes into the bytes in front of a received frame (an 802.1Q tag inserted
    /// in place): they belong to no other buffer, and receives leave them alone.
    @Test func theHeadroomInFrontOfEachBufferIsItsOwn() throws {
        let (sender, receiver) = try datagramPair()
        defer { close(sender); close(receiver) }
        let frames = (0..<3).map { index in [UInt8](repeating: UInt8(index + 1), count: 64) }
        try send(frames, with: SendBatch(capacity: 4), on: sender)

        let received = ReceiveBatch(capacity: 4, bufferSize: 64, headroom: 4)
        #expect(try received.receive(from: receiver) == .processed(3))
        for index in 0..<3 {
            let front = UnsafeMutableRawPointer(mutating: received.datagram(index).baseAddress!) - 4
            front.storeBytes(of: 0xFFFF_FFFF, as: UInt32.self)
        }
        #expect((0..<3).map { Array(received.datagram($0)) } == frames)
        try send([[9, 9, 9]], with: SendBatch(capacity: 1), on: sender)
        #expect(try received.receiveOne(from: receiver) == .processed(1))
        #expect(Array(received.datagram(0)) == [9, 9, 9])
        #expect(received.buffer(0).baseAddress == UnsafeMutableRawPointer(mutating: received.datagram(0).baseAddress))
    }

    /// A sender that never connects (QEMU's dgram netdev, and f2f-bench standing for it) names
    /// its destination in every datagram of the batch; the names are gone afterwards, so the
    /// same batch sent on a connected socket goes to that socket's peer, not to the old name.
    @Test func anAddressedBatchReachesTheNamedSocketAndLeavesNoNameBehind() throws {
        var template = Array("/tmp/f2f-batch-XXXXXX".utf8CString)
        let directory = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        let path = directory + "/named"
        let named = try UnixSocket.makeDatagram()
        let address = try #require(UnixSocketAddress(path: path))
        try UnixSocket.bind(named.rawValue, to: address)
        defer { unlink(path); rmdir(directory) }
        let unconnected = try UnixSocket.makeDatagram()
        let batch = SendBatch(capacity: 4)
        let frames: [[UInt8]] = [[1], [2, 2], [3, 3, 3]]
        let (sender, receiver) = try datagramPair()
        defer { close(sender); close(receiver) }
        let received = ReceiveBatch(capacity: 8, bufferSize: 64)
        try staging(frames, in: batch) { () throws in
            #expect(try batch.send(on: unconnected.rawValue, to: address) == 3)
            #expect(try received.receive(from: named.rawValue) == .processed(3))
            #expect((0..<3).map { Array(received.datagram($0)) } == frames)
            #expect(try batch.send(on: sender) == 3)
        }
        #expect(try received.receive(from: receiver) == .processed(3))
        #expect(try received.receive(from: named.rawValue) == .wouldBlock)
    }

    @discardableResult
    private func send(_ frames: [[UInt8]], with batch: SendBatch, on descriptor: Int32) throws -> Int {
        try staging(frames, in: batch) { try batch.send(on: descriptor) }
    }

    /// Stages `frames` in `batch` for `body`, then empties it: the batch holds pointers only,
    /// so the bytes must live until its sends return.
    private func staging<Result>(_ frames: [[UInt8]], in batch: SendBatch, _ body: () throws -> Result) throws -> Result {
        let storage = frames.map { frame in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: frame.count, alignment: 1)
            buffer.copyBytes(from: frame)
            return buffer
        }
        defer { storage.forEach { $0.deallocate() } }
        for buffer in storage { batch.append(UnsafeRawBufferPointer(buffer)) }
        defer { batch.removeAll() }
        return try body()
    }

    private func datagramPair() throws -> (Int32, Int32) {
        var descriptors: [Int32] = [-1, -1]
        let result = socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &descriptors)
        try #require(result == 0)
        return (descriptors[0], descriptors[1])
    }
}
