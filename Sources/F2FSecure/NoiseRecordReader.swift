import Foundation

/// Splits the record stream (spec §13: each record a 2-byte big-endian length, then that many
/// bytes) into records, whatever chunks the stream arrives in. Pure: the connection fills
/// `freeSpace` from its socket (no copy), a test or the fuzzer `feed`s bytes.
///
/// Bounded: the buffer holds one whole record plus the start of the next, and a length over
/// `limit` is an error as soon as its two bytes are in. A record is lent, never copied, until
/// the next `freeSpace` or `feed`, which may move buffered bytes to the front.
final class NoiseRecordReader {
    static let lengthCount = 2
    /// What the 2-byte length field can say.
    static let maximumRecordCount = 65_535

    /// The longest record accepted; the handshake lowers it to a handshake message's maximum.
    var limit: Int

    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(limit: Int = NoiseRecordReader.maximumRecordCount) {
        precondition(limit <= Self.maximumRecordCount, "a length field cannot announce \(limit) bytes")
        self.limit = limit
        buffer = .allocate(byteCount: 2 * (Self.lengthCount + Self.maximumRecordCount), alignment: 16)
    }

    deinit {
        buffer.deallocate()
    }

    /// Bytes received and not yet returned as part of a record.
    var bufferedCount: Int { end - start }

    /// Room for more of the stream, after what is buffered moved to the front; report what was
    /// written there with `didFill(_:)`. Never empty while no complete record waits.
    var freeSpace: UnsafeMutableRawBufferPointer {
        if start > 0 {
            let pending = end - start
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending)
            start = 0
            end = pending
        }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[end...])
    }

    /// `count` bytes were written at the start of the last `freeSpace`.
    func didFill(_ count: Int) {
        precondition(count >= 0 && end + count <= buffer.count, "filled past the free space")
        end += count
    }

    /// Copies as much of `bytes` as fits; returns how many were taken (all of them unless a
    /// complete record waits to be taken first).
    @discardableResult
    func feed(_ bytes: UnsafeRawBufferPointer) -> Int {
        let space = freeSpace
        let count = min(space.count, bytes.count)
        if count > 0 { space.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: count) }
        end += count
        return count
    }

    /// The length field of the next record, once its two bytes are in.
    private var nextLength: Int? {
        guard end - start >= Self.lengthCount else { return nil }
        let base = buffer.baseAddress! + start
        return Int(base.load(as: UInt8.self)) << 8 | Int(base.load(fromByteOffset: 1, as: UInt8.self))
    }

    /// A whole record is buffered (or a length that `nextRecord` will refuse).
    var hasCompleteRecord: Bool {
        guard let length = nextLength else { return false }
        return length > limit || end - start >= Self.lengthCount + length
    }

    /// The next complete record without its length field, consumed; nil until all of it is in.
    func nextRecord() throws(NoiseRecordError) -> UnsafeRawBufferPointer? {
        guard let length = nextLength else { return nil }
        guard length <= limit else { throw .oversize(length: length, limit: limit) }
        guard end - start >= Self.lengthCount + length else { return nil }
        let record = UnsafeRawBufferPointer(start: buffer.baseAddress! + start + Self.lengthCount, count: length)
        start += Self.lengthCount + length
        return record
    }

    /// The next complete record opened with `cipher`: its plaintext as the library returns it.
    func nextPlaintext(opening cipher: inout NoiseCipherState) throws(NoiseRecordError) -> Data? {
        guard let record = try nextRecord() else { return nil }
        do {
            return try cipher.open(record, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
        } catch {
            throw .unopened(error)
        }
    }
}
