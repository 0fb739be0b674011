import Foundation
import Glibc
import Synchronization

/// A man in the middle on 127.0.0.1: relays one TCP connection to `targetPort` and, when told,
/// flips one bit in the next bytes going from the dialler to the target.
final class TamperingRelay: Sendable {
    let port: UInt16
    private let listener: Int32
    private let tamperRequested = Mutex(false)
    private let stopped = Mutex(false)

    init(targetPort: UInt16) throws {
        let (port, listener) = try TCPPorts.listenOnLoopback()
        self.port = port
        self.listener = listener
        Thread.detachNewThread { [self] in
            let client = accept(listener, nil, nil)
            guard client >= 0, let server = try? TCPPorts.connect(port: targetPort) else { return }
            relay(client: client, server: server)
            close(client)
            close(server)
        }
    }

    /// The next chunk from the dialler reaches the target with one bit flipped.
    func tamperWithNextBytes() {
        tamperRequested.withLock { $0 = true }
    }

    /// Idempotent: `deinit` calls it again, and a second close could close a descriptor that
    /// another test has since been given.
    func stop() {
        guard stopped.withLock({ wasStopped in defer { wasStopped = true }; return !wasStopped }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func relay(client: Int32, server: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pollers = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: server, events: Int16(POLLIN), revents: 0)]
        while !stopped.withLock({ $0 }) {
            guard poll(&pollers, 2, 100) >= 0 else { return }
            for (index, poller) in pollers.enumerated() where poller.revents != 0 {
                let from = index == 0 ? client : server
                let to = index == 0 ? server : client
                let count = recv(from, &buffer, buffer.count, 0)
                guard count > 0 else { return }
                if index == 0, tamperRequested.withLock({ flag in defer { flag = false }; return flag }) {
                    buffer[count / 2] ^= 0x10
                }
                guard send(to, buffer, count, Int32(MSG_NOSIGNAL)) == count else { return }
            }
        }
    }

    deinit {
        stop()
    }
}
