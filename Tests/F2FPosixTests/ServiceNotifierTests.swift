import Glibc
import Testing

@testable import F2FPosix

/// sd_notify without libsystemd: the datagram a `Type=notify` service manager waits for.
@Suite struct ServiceNotifierTests {
    @Test func theMessageIsNewlineSeparatedStates() {
        #expect(ServiceNotifier.message([ServiceNotifier.ready]) == Array("READY=1".utf8))
        #expect(ServiceNotifier.message([ServiceNotifier.ready, "STATUS=up"]) == Array("READY=1\nSTATUS=up".utf8))
        #expect(ServiceNotifier.stopping == "STOPPING=1")
    }

    @Test func onlyAbsolutePathsAndAbstractNamesAreAddresses() throws {
        #expect(ServiceNotifier(socket: "/run/systemd/notify")?.pathBytes == Array("/run/systemd/notify".utf8))
        let abstract = try #require(ServiceNotifier(socket: "@/org/freedesktop/systemd1/notify/1"))
        #expect(abstract.pathBytes.first == 0)
        #expect(abstract.pathBytes.count == "@/org/freedesktop/systemd1/notify/1".utf8.count, "an abstract name is exactly its length")
        #expect(ServiceNotifier(socket: "") == nil)
        #expect(ServiceNotifier(socket: "@") == nil)
        #expect(ServiceNotifier(socket: "relative/socket") == nil)
        #expect(ServiceNotifier(socket: "/" + String(repeating: "x", count: 200)) == nil)
    }

    @Test(arguments: [false, true]) func aBoundDatagramSocketReceivesReady(abstract: Bool) throws {
        let name = "/tmp/invite-notify-\(getpid())-\(abstract)"
        let receiver = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer {
            close(receiver)
            unlink(name)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) } }
        try #require(bound == 0)

        let notifier = try #require(ServiceNotifier(socket: abstract ? "@" + name.dropFirst() : name))
        #expect(notifier.notify([ServiceNotifier.ready]) == nil)
        var buffer = [UInt8](repeating: 0, count: 256)
        var poller = pollfd(fd: receiver, events: Int16(POLLIN), revents: 0)
        try #require(poll(&poller, 1, 2000) == 1)
        let count = recv(receiver, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer[..<max(count, 0)], as: UTF8.self) == "READY=1")
    }

    @Test func nobodyListeningIsAnErrorToLogNotToThrow() throws {
        let notifier = try #require(ServiceNotifier(socket: "/tmp/invite-notify-nobody-\(getpid())"))
        #expect(notifier.notify([ServiceNotifier.ready]) != nil)
    }
}
