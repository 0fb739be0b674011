import Foundation
import Glibc
import Synchronization

/// The pre-authentication attack: keep up to `holding` TCP connections open to a
/// listener, sending nothing (or one byte a second, a handshake that never completes), and
/// reopen each one the switch closes at once, at most `rate` new connections a second, from
/// `sources` in turn (loopback addresses). Runs on its own thread until `stop()`.
final class PreAuthAttacker: @unchecked Sendable {
    let port: UInt16
    let sources: [String]
    let holding: Int
    let rate: Double
    let trickle: Bool
    private let running = Atomic<Bool>(true)
    private let opened = Atomic<Int>(0)
    private let closedByServer = Atomic<Int>(0)
    private let done = DispatchSemaphore(value: 0)

    init(port: UInt16, sources: [String] = ["127.0.0.2"], holding: Int = 16, rate: Double = 5, trickle: Bool) {
        self.port = port
        self.sources = sources
        self.holding = holding
        self.rate = rate
        self.trickle = trickle
        let thread = Thread { [self] in run() }
        thread.start()
    }

    var connectionsOpened: Int { opened.load(ordering: .relaxed) }
    var connectionsClosedByServer: Int { closedByServer.load(ordering: .relaxed) }

    func stop() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        done.wait()
    }

    deinit { stop() }

    private func run() {
        var sockets: [Int32] = []
        var trickled: [Int32: Int] = [:]
        var tokens = rate
        var lastRefill = ContinuousClock.now
        var lastTrickle = ContinuousClock.now
        while running.load(ordering: .relaxed) {
            let now = ContinuousClock.now
            tokens = min(rate, tokens + rate * ((now - lastRefill) / .seconds(1)))
            lastRefill = now
            while sockets.count < holding, tokens >= 1 {
                tokens -= 1
                guard let fd = connect(from: sources[opened.load(ordering: .relaxed) % sources.count]) else { break }
                opened.add(1, ordering: .relaxed)
                sockets.append(fd)
            }
            if trickle, now - lastTrickle >= .seconds(1) {
                lastTrickle = now
                // The start of a plausible first message: its length (32, an ephemeral key),
                // then the key's bytes, one a second: it would be whole after 34 s.
                for fd in sockets {
                    var byte: UInt8 = trickled[fd, default: 0] == 1 ? 0x20 : 0x00
                    if send(fd, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) == 1 { trickled[fd, default: 0] += 1 }
                }
            }
            var polls = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&polls, nfds_t(polls.count), 5)
            var kept: [Int32] = []
            for entry in polls {
                var buffer = [UInt8](repeating: 0, count: 256)
                if entry.revents != 0, recv(entry.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) <= 0 {
                    closedByServer.add(1, ordering: .relaxed)
                    trickled[entry.fd] = nil
                    close(entry.fd)
                } else {
                    kept.append(entry.fd)
                }
            }
            sockets = kept
        }
        sockets.forEach { close($0) }
        done.signal()
    }

    private func connect(from source: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        remote.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let connected = bound == 0 && withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
        guard connected else {
            close(fd)
            return nil
        }
        return fd
    }
}
