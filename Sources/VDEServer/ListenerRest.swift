import F2FBase
import F2FPosix
import Glibc

/// Takes a listening socket out of the loop for a moment when `accept` fails for want of
/// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM). The waiting connection stays in
/// the kernel's backlog and keeps the socket readable: retrying at once would spin the loop
/// and write a log line per turn.
final class ListenerRest {
    private let loop: EventLoop
    private let descriptor: Int32
    let interval: Duration
    private var timer: EventLoop.TimerID?
    /// Times the listener rested.
    private(set) var count: UInt64 = 0

    init(loop: EventLoop, descriptor: Int32, interval: Duration = .milliseconds(100)) {
        self.loop = loop
        self.descriptor = descriptor
        self.interval = interval
    }

    var isResting: Bool { timer != nil }

    /// Whether an accept error is about the one connection (retry now) rather than the process.
    static func isTransient(_ error: SystemError) -> Bool {
        error.errno == ECONNABORTED || error.errno == EPROTO || error.errno == EPERM
    }

    func rest() {
        guard timer == nil else { return }
        count &+= 1
        loop.setInterest(.none, for: descriptor)
        timer = loop.schedule(after: interval) { [weak self] in
            guard let self else { return }
            timer = nil
            loop.setInterest(.readable, for: descriptor)
        }
    }

    /// The listener is closing: no timer may touch the descriptor number afterwards.
    func cancel() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
    }
}
