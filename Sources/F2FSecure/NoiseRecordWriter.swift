import Foundation

/// Makes records (spec §13 framing: a 2-byte big-endian length, then the record): handshake
/// messages framed as they are, plaintext sealed with the transport cipher. Pure; the
/// connection decides what reaches the socket and stages the rest.
enum NoiseRecordWriter {
    /// Plaintext that fits in one record with its tag.
    static let maximumPlaintextCount = NoiseRecordReader.maximumRecordCount - NoiseCipherState.tagCount

    /// A sealed record in the pieces swift-crypto hands out, so the transport path can write
    /// them to the socket without copying them together first.
    struct SealedRecord {
        var length: (UInt8, UInt8)
        var ciphertext: Data
        var tag: Data

        var count: Int { NoiseRecordReader.lengthCount + ciphertext.count + tag.count }

        /// The whole record appended to `output`.
        func encode(into output: inout [UInt8]) {
            output.append(length.0)
            output.append(length.1)
            output.append(contentsOf: ciphertext)
            output.append(contentsOf: tag)
        }
    }

    /// A handshake message framed and appended to `output`.
    static func frame(_ message: [UInt8], into output: inout [UInt8]) {
        precondition(message.count <= NoiseRecordReader.maximumRecordCount, "a \(message.count)-byte record")
        output.append(UInt8(message.count >> 8))
        output.append(UInt8(message.count & 0xFF))
        output.append(contentsOf: message)
    }

    /// `plaintext` (at most `maximumPlaintextCount` bytes) sealed with `cipher` into one record.
    static func seal(_ plaintext: UnsafeRawBufferPointer, with cipher: inout NoiseCipherState) throws(NoiseError) -> SealedRecord {
        precondition(plaintext.count <= maximumPlaintextCount, "\(plaintext.count) bytes do not fit in one record")
        let sealed = try cipher.seal(plaintext, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
        let length = sealed.ciphertext.count + sealed.tag.count
        return SealedRecord(length: (UInt8(length >> 8), UInt8(length & 0xFF)), ciphertext: sealed.ciphertext, tag: sealed.tag)
    }
}
