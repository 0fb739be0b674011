import F2FCore
import F2FSecure
import Logging

/// The Noise XX handshake as a stranger on the internet can drive it. The first input byte
/// chooses the target and how the stream is cut; the rest is what the other side "sends":
/// - even: a responder `SecureConnection` (the listen port) reads it as its byte stream;
/// - odd: an initiator that sent message 1 reads it as message 2.
/// Invariant: garbage never authenticates — nobody can complete XX without the keys, and the
/// fuzzer's bytes were fixed before our ephemeral key existed.
enum NoiseHandshakeHarness {
    private static let chunkPatterns: [[Int]] = [[1], [2], [31], [4096], [2, 1, 48]]
    private static let identity = IdentityKey()

    @Sendable static func run(_ input: UnsafeRawBufferPointer) {
        guard let options = input.first else { return }
        let stream = [UInt8](input.dropFirst())
        if options & 1 == 0 {
            driveResponder(stream, chunks: chunkPatterns[Int(options >> 1) % chunkPatterns.count])
        } else {
            var initiator = NoiseHandshake(role: .initiator, localStatic: identity.privateKey, prologue: [])
            do {
                _ = try initiator.writeMessage()
                _ = try initiator.readMessage(stream)
                preconditionFailure("a fuzzed message 2 authenticated")
            } catch {
                precondition(!initiator.isComplete && initiator.remoteStatic == nil, "a failed message left an identity behind")
            }
        }
    }

    private static func driveResponder(_ stream: [UInt8], chunks: [Int]) {
        var logger = Logger(label: "fuzz.noise")
        logger.logLevel = .critical
        let transport = ChunkedConnection(stream: stream, chunkSizes: chunks, pausesBetweenChunks: true)
        let observer = Observer()
        let secure = SecureConnection(
            over: transport, role: .responder, identity: identity, isConnected: true,
            authorize: { _ in preconditionFailure("a fuzzed stream got as far as an identity check") },
            logger: logger, post: { $0() })
        secure.events = observer
        // Every read hands out one chunk; a bounded number of wake-ups consumes the stream.
        for _ in 0...(stream.count + 2) where !observer.closed {
            secure.connectionIsReady(transport, readable: true, writable: true)
        }
        precondition(!observer.established && !secure.isEstablished, "a fuzzed stream authenticated")
    }

    private final class Observer: ConnectionEvents {
        var established = false
        var closed = false
        func connectionEstablished(_ connection: any Connection) { established = true }
        func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {}
        func connectionClosed(_ connection: any Connection, error: ConnectionError?) { closed = true }
    }
}
