import F2FCore
import F2FPosix

/// Adapts a closure to `IOHandler`, so one object can own several descriptors with
/// different handlers.
final class IOCallback: IOHandler {
    private let body: (IOReadiness) -> Void

    init(_ body: @escaping (IOReadiness) -> Void) {
        self.body = body
    }

    func handle(_ readiness: IOReadiness) {
        body(readiness)
    }
}
