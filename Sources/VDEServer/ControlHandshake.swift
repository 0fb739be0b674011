import F2FBase
import F2FPosix

/// One accepted control connection until its request is served or refused
/// (docs/vde-protocol.md 1.2). Bytes are accumulated until a whole header is in; the description
/// is whatever arrived with it.
final class ControlHandshake {
    let descriptor: Int32
    private var control: Descriptor?
    private var received: [UInt8] = []
    /// When the connection was accepted, on the loop's clock: the request deadline counts from it.
    let acceptedAt: Instant

    init(control: consuming Descriptor, acceptedAt: Instant) {
        self.acceptedAt = acceptedAt
        descriptor = control.rawValue
        self.control = consume control
        received.reserveCapacity(VDERequest.maximumCount)
    }

    enum Progress {
        case needMore
        case request(VDERequest)
        case failed(String)
    }

    /// Reads what is available and reports whether a request is complete.
    func readRequest() -> Progress {
        var chunk = [UInt8](repeating: 0, count: VDERequest.maximumCount - received.count)
        guard !chunk.isEmpty else { return .failed("request larger than 256 bytes") }
        let result = chunk.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try UnixSocket.read(descriptor, into: buffer) }
        }
        switch result {
        case .failure(let error):
            return .failed("read failed: \(error)")
        case .success(.wouldBlock):
            return .needMore
        case .success(.processed(0)):
            return received.isEmpty ? .failed("closed before sending a request") : .failed("short request: \(received.count) bytes, then end of stream")
        case .success(.processed(let count)):
            received.append(contentsOf: chunk[..<count])
        }
        let bytes = received
        let span = bytes.span
        guard VDERequest.isComplete(span) else {
            // A non-VDE client is refused as soon as its first bytes show it.
            if span.count >= 4, span.littleEndianUInt32(at: 0) != VDERequest.magic {
                return .failed(VDERequestError.badMagic(span.littleEndianUInt32(at: 0)).description)
            }
            return .needMore
        }
        do {
            return .request(try VDERequest(parsing: span))
        } catch {
            return .failed(error.description)
        }
    }

    /// Hands the control stream over to the endpoint that now owns it.
    func takeControl() -> Descriptor? {
        control.take()
    }
}
