import F2FCore

/// An in-memory `Connection` that hands out a fixed byte stream in chunks of the given sizes
/// (cycled), optionally answering `wouldBlock` between chunks, then end of stream. The fuzzer
/// picks the split, so the assembler is tried on every way TCP may cut the stream.
final class ChunkedConnection: Connection {
    weak var events: (any ConnectionEvents)?
    let remoteDescription = "fuzz"

    private let stream: [UInt8]
    private let chunkSizes: [Int]
    private let pausesBetweenChunks: Bool
    private var offset = 0
    private var chunkIndex = 0
    private var paused = false

    init(stream: [UInt8], chunkSizes: [Int], pausesBetweenChunks: Bool) {
        precondition(!chunkSizes.isEmpty && chunkSizes.allSatisfy { $0 > 0 }, "chunk sizes must be positive")
        self.stream = stream
        self.chunkSizes = chunkSizes
        self.pausesBetweenChunks = pausesBetweenChunks
    }

    var isExhausted: Bool { offset == stream.count }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> CommReadResult {
        precondition(!buffer.isEmpty, "the assembler asked for zero bytes")
        if paused {
            paused = false
            return .wouldBlock
        }
        guard offset < stream.count else { return .endOfStream }
        let count = min(buffer.count, chunkSizes[chunkIndex % chunkSizes.count], stream.count - offset)
        chunkIndex += 1
        stream.withUnsafeBytes { bytes in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
        }
        offset += count
        paused = pausesBetweenChunks
        return .bytes(count)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) -> Int { bytes.count }
    func flush() {}
    func reconfigure(_ interest: CommInterest) {}
    func close() {}
}
