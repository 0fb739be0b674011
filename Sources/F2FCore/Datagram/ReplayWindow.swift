/// Which received datagram counters have been seen: the sliding bitmap of RFC 6479 (as
/// WireGuard uses it), so a datagram lost, duplicated or reordered by the path is told apart from
/// a replay without a per-datagram allocation.
///
/// The bitmap is a ring of 64-bit words; moving the window forward clears whole words instead of
/// shifting bits, so a jump costs at most one pass over the ring and an in-order counter costs a
/// few instructions. One word is kept as slack, so the window proper is `windowSize` =
/// (words − 1) × 64 counters behind the greatest one accepted.
///
/// Run `verdict(for:)` before the AEAD check (it changes nothing, and rejects stale and replayed
/// datagrams before spending a decryption on them) and `accept(_:)` only after the check
/// succeeded, so a forged datagram can never move the window.
public struct ReplayWindow: Sendable {
    public enum Verdict: Equatable, Sendable {
        case accepted
        /// Inside the window and already seen: a replay or a duplicate on the path.
        case duplicate
        /// Behind the window: so late it cannot be told apart from a replay.
        case tooOld
    }

    static let wordBits = 64
    private var words: [UInt64]
    private let wordMask: UInt64
    /// The greatest counter accepted; nil until the first.
    public private(set) var greatest: UInt64?
    /// Counters accepted this far behind `greatest` are still checked; anything further is too old.
    public let windowSize: UInt64

    /// `bits` is rounded up to a power of two and at least 128 (two words); 2048 is WireGuard's.
    public init(bits: Int = 2048) {
        var wordCount = 2
        while wordCount * Self.wordBits < bits { wordCount *= 2 }
        words = [UInt64](repeating: 0, count: wordCount)
        wordMask = UInt64(wordCount - 1)
        windowSize = UInt64((wordCount - 1) * Self.wordBits)
    }

    /// What `accept(_:)` would answer, without changing the window.
    public func verdict(for counter: UInt64) -> Verdict {
        guard let greatest else { return .accepted }
        if counter > greatest { return .accepted }
        if greatest - counter >= windowSize { return .tooOld }
        return words[wordIndex(counter)] & Self.bit(counter) != 0 ? .duplicate : .accepted
    }

    /// Records `counter` as received if it is new and inside the window (or ahead of it).
    @discardableResult
    public mutating func accept(_ counter: UInt64) -> Verdict {
        let verdict = verdict(for: counter)
        guard verdict == .accepted else { return verdict }
        if let greatest, counter > greatest {
            // Clear the words the window slides over: those after greatest's, up to counter's.
            let steps = min(counter / UInt64(Self.wordBits) - greatest / UInt64(Self.wordBits), UInt64(words.count))
            var word = greatest / UInt64(Self.wordBits)
            for _ in 0..<steps {
                word &+= 1
                words[Int(word & wordMask)] = 0
            }
            self.greatest = counter
        } else if greatest == nil {
            self.greatest = counter
        }
        words[wordIndex(counter)] |= Self.bit(counter)
        return .accepted
    }

    /// Forgets everything: for a new session key, whose counters start again at 0.
    public mutating func reset() {
        for index in words.indices { words[index] = 0 }
        greatest = nil
    }

    private func wordIndex(_ counter: UInt64) -> Int {
        Int((counter / UInt64(Self.wordBits)) & wordMask)
    }

    private static func bit(_ counter: UInt64) -> UInt64 {
        1 << (counter % UInt64(wordBits))
    }
}
