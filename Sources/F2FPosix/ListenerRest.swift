import F2FCore
import Glibc

/// Takes listening sockets out of the loop for a moment when `accept` fails for want of
/// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM). The waiting connection stays in
/// the kernel's backlog and keeps the socket readable: retrying at once would spin the loop
/// and write a log line per turn. (Keeping a spare descriptor to accept-and-close with would
/// stop the spin too, but would throw away a connection that may be a friend's.)
public final class ListenerRest {
    private let loop: any EventLoop
    private let descriptors: [Int32]
    public let interval: Duration
    private var timer: EventLoop.TimerID?
    /// Times the listener rested.
    public private(set) var count: UInt64 = 0
    /// Rests since the last connection accepted: one shortage is one event to report.
    private var restsSinceAccept = 0

    public init(loop: any EventLoop, descriptors: [Int32], interval: Duration = .milliseconds(100)) {
        self.loop = loop
        self.descriptors = descriptors
        self.interval = interval
    }

    public var isResting: Bool { timer != nil }

    /// Whether an accept error concerns only the one connection (a signal, a connection that
    /// died in the backlog, a firewall's refusal): the next accept may succeed at once.
    public static func isTransient(errno: Int32) -> Bool {
        errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM
    }

    /// Accepts every connection waiting on the unix listener `listener` and hands each to
    /// `handle`. When accept fails for want of descriptors or memory the listener rests, and
    /// `shortage` hears only of the first rest of a shortage (one log line, not one per turn).
    public func acceptAll(from listener: Int32, shortage: (SystemError) -> Void, _ handle: (consuming Descriptor) -> Void) {
        while true {
            let accepted: Descriptor?
            do {
                accepted = try UnixSocket.accept(listener)
            } catch {
                if Self.isTransient(errno: error.errno) { continue }
                if rest() { shortage(error) }
                return
            }
            guard let accepted else { return }
            self.accepted()
            handle(accepted)
        }
    }

    /// Returns true for the first rest of a shortage (worth a log line), false while it lasts.
    @discardableResult
    public func rest() -> Bool {
        guard timer == nil else { return false }
        count &+= 1
        restsSinceAccept += 1
        for descriptor in descriptors { loop.setInterest(.none, for: descriptor) }
        timer = loop.schedule(after: interval) { [weak self] in
            guard let self else { return }
            timer = nil
            for descriptor in descriptors { loop.setInterest(.readable, for: descriptor) }
        }
        return restsSinceAccept == 1
    }

    /// A connection was accepted: the shortage, if any, is over.
    public func accepted() {
        restsSinceAccept = 0
    }

    /// The listener is closing: no timer may touch its descriptor numbers afterwards.
    public func cancel() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
    }
}
