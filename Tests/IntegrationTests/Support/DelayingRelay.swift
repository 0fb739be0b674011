import Foundation
import Glibc
import Synchronization

/// A slow path on 127.0.0.1: relays one TCP connection to `targetPort`, holding every chunk
/// for `oneWayDelay` (changeable at any time) in each direction, in order. This kernel has no
/// netem, and a friend link's TCP stream is what a test of "slow but alive" needs to slow down.
final class DelayingRelay: Sendable {
    let port: UInt16
    private let listener: Int32
    private let delay = Mutex(Duration.zero)
    private let stopped = Mutex(false)

    init(targetPort: UInt16) throws {
        let (port, listener) = try TCPPorts.listenOnLoopback()
        self.port = port
        self.listener = listener
        Thread.detachNewThread { [self] in
            let client = accept(listener, nil, nil)
            guard client >= 0, let server = try? TCPPorts.connect(port: targetPort) else { return }
            let finished = Mutex(0)
            // Whichever direction ends first ends the other (shutdown), the last one closes.
            let end = { @Sendable in
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(server, Int32(SHUT_RDWR))
                if finished.withLock({ count in count += 1; return count }) == 2 {
                    close(client)
                    close(server)
                }
            }
            Thread.detachNewThread { [self] in
                relay(from: client, to: server)
                end()
            }
            relay(from: server, to: client)
            end()
        }
    }

    var oneWayDelay: Duration {
        get { delay.withLock { $0 } }
        set { delay.withLock { $0 = newValue } }
    }

    /// Idempotent: `deinit` calls it again, and a second close could close a descriptor that
    /// another test has since been given.
    func stop() {
        guard stopped.withLock({ wasStopped in defer { wasStopped = true }; return !wasStopped }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// Reads whatever arrives, sends each chunk when its delay is up.
    private func relay(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var held: [(due: ContinuousClock.Instant, bytes: [UInt8])] = []
        var poller = pollfd(fd: from, events: Int16(POLLIN), revents: 0)
        while !stopped.withLock({ $0 }) {
            let now = ContinuousClock.now
            while let first = held.first, first.due <= now {
                guard send(to, first.bytes, first.bytes.count, Int32(MSG_NOSIGNAL)) == first.bytes.count else { return }
                held.removeFirst()
            }
            let wait = held.first.map { first -> Int32 in
                let left = (first.due - now).components
                return Int32(max(0, left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000 + 1))
            } ?? 20
            poller.revents = 0
            guard poll(&poller, 1, min(wait, 20)) >= 0 else { return }
            guard poller.revents != 0 else { continue }
            let count = recv(from, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            // In order: a chunk never leaves before one read earlier, whatever the delay now.
            let due = max(ContinuousClock.now + oneWayDelay, held.last?.due ?? .now)
            held.append((due, Array(buffer[..<count])))
        }
    }

    deinit {
        stop()
    }
}
