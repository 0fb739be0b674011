import F2FCore

/// A closure as the loop's `IOHandler`.
final class IOClosure: IOHandler {
    private let body: (IOReadiness) -> Void

    init(_ body: @escaping (IOReadiness) -> Void) {
        self.body = body
    }

    func handle(_ readiness: IOReadiness) {
        body(readiness)
    }
}
