import F2FCore
import F2FPosix

/// Adapts a closure to `IOHandler`, so one object can own several descriptors with
/// different handlers.
public final class IOCallback: IOHandler {
    private let body: (IOReadiness) -> Void

    public init(_ body: @escaping (IOReadiness) -> Void) {
        self.body = body
    }

    public func handle(_ readiness: IOReadiness) {
        body(readiness)
    }
}
