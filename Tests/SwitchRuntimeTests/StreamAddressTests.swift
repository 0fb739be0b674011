import Testing
import SwitchRuntime

/// `--stream` takes a unix socket path or a TCP `[HOST:]PORT`, loopback without a host.
struct StreamAddressTests {
    @Test func pathsPortsAndHosts() {
        #expect(StreamServer.Address(parsing: "/run/sw.stream") == .unix(path: "/run/sw.stream"))
        #expect(StreamServer.Address(parsing: "./sw.stream") == .unix(path: "./sw.stream"))
        #expect(StreamServer.Address(parsing: "5555") == .tcp(host: nil, port: 5555))
        #expect(StreamServer.Address(parsing: "5555")?.description == "127.0.0.1:5555")
        #expect(StreamServer.Address(parsing: "0.0.0.0:5555") == .tcp(host: "0.0.0.0", port: 5555))
        #expect(StreamServer.Address(parsing: "[::1]:5555") == .tcp(host: "::1", port: 5555))
        #expect(StreamServer.Address(parsing: "[::1]:5555")?.description == "[::1]:5555")
    }

    @Test(arguments: ["", "0", "65536", "host:", ":5555", "sw.stream", "[::1]5555", "host:port"])
    func refused(text: String) {
        #expect(StreamServer.Address(parsing: text) == nil)
    }
}
