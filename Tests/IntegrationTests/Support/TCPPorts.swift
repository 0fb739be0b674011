import Glibc
import Synchronization

enum TCPPorts {
    /// Ports already given to a test in this run: suites run in parallel, and the kernel may
    /// hand the same just-released port to two of them.
    private static let handedOut = Mutex<Set<UInt16>>([])

    /// A port that was free a moment ago on 127.0.0.1 and that no other test of this run got.
    static func free() throws -> UInt16 {
        for _ in 0..<50 {
            let port = try kernelChosenPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw TestFailure("no unused TCP port")
    }

    private static func kernelChosenPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free TCP port") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// A listening socket on 127.0.0.1 at a port of its own (the test relays' side facing the
    /// dialling switch).
    static func listenOnLoopback() throws -> (port: UInt16, descriptor: Int32) {
        let port = try free()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 4) == 0 else {
            close(listener)
            throw TestFailure("cannot listen on 127.0.0.1:\(port)")
        }
        return (port, listener)
    }

    /// A raw TCP client for hostile-input tests.
    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestFailure("connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// Reads until the other side closes (or the timeout); returns the bytes and whether it closed.
    static func readUntilClosed(_ fd: Int32, timeout: Int32 = 5000) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout) == 1 else { return (bytes, false) }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return (bytes, true) }
            bytes += buffer[..<count]
        }
    }
}

extension SwitchProcess {
    /// Number of peers in ESTABLISHED state, from the console.
    func establishedPeerCount() throws -> Int {
        try command("peer/print").data.filter { $0.hasPrefix("Peer ") && $0.contains(" ESTABLISHED ") }.count
    }

    /// Also waits, when peers are expected, until the spanning tree has settled on the peer
    /// ports: a frame sent while a new link is still proposing would be held back from it.
    func waitForPeers(_ count: Int, timeout: Duration = .seconds(10)) throws {
        do {
            try waitUntil(timeout: timeout, "\(count) established peer(s) on \(socketDirectory)") {
                try establishedPeerCount() == count && (count == 0 || peerPortsSettled())
            }
        } catch let failure as TestFailure {
            // What the switch saw is the only clue to a link that would not come up in time.
            let seen = ["peer/print", "stp/print"].map { (try? command($0).data.joined(separator: "\n")) ?? "\($0): no answer" }
            throw TestFailure("\(failure)\n" + seen.joined(separator: "\n"))
        }
    }

    /// No peer port (p2p=1) is a root or designated port still discarding: each forwards or
    /// blocks for good (alternate, backup). True when the spanning tree is off.
    func peerPortsSettled() throws -> Bool {
        try command("stp/print").data.allSatisfy { line in
            guard line.hasPrefix("Port "), line.contains(" p2p=1 ") else { return true }
            return line.contains(" state=forwarding ") || line.contains(" role=alternate ") || line.contains(" role=backup ")
                || line.contains(" role=disabled ")
        }
    }
}
