/// Why the record stream cannot go on: the connection turns each into a `ConnectionError`.
enum NoiseRecordError: Error, Equatable, Sendable {
    /// The length field announced more than the current limit (a handshake message over
    /// `NoiseHandshake.maximumMessageCount` bytes); nothing of the record was consumed.
    case oversize(length: Int, limit: Int)
    /// The record did not open: a failed tag, a record shorter than its tag, or the last nonce.
    case unopened(NoiseError)
}

extension NoiseRecordError {
    /// The announced length, for an `oversize` error.
    var oversizeLength: Int? {
        guard case .oversize(let length, _) = self else { return nil }
        return length
    }
}
