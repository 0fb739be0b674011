import EthernetSwitch
import Foundation
import Glibc
import Testing

/// `--metrics`: a real switch scraped over HTTP while frames flow, its answer read by a real
/// Prometheus parser (python3-prometheus-client), and hostile requests that must not hurt it.
@Suite(.serialized) struct MetricsProcessTests {
    /// One HTTP exchange: sends `request` and reads until the switch closes.
    static func exchange(port: UInt16, _ request: [UInt8]) throws -> String {
        let fd = try TCPPorts.connect(port: port)
        defer { close(fd) }
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { break }  // the switch may answer and close before it all went
            offset += sent
        }
        let (bytes, closed) = TCPPorts.readUntilClosed(fd)
        #expect(closed, "every answer closes the connection")
        return String(decoding: bytes, as: UTF8.self)
    }

    static func scrape(port: UInt16) throws -> String {
        let answer = try exchange(port: port, Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n".utf8))
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(answer.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        guard let split = answer.range(of: "\r\n\r\n") else { throw TestFailure("no head end in \(answer)") }
        return String(answer[split.upperBound...])
    }

    /// Every sample, `name{label="value",…}` with labels sorted, as the real parser reads the
    /// text; it raises (and the test fails) on any line it does not accept.
    static func parse(_ body: String) throws -> [String: Double] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            samples = {}
            for family in text_string_to_metric_families(sys.stdin.read()):
                for sample in family.samples:
                    labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
                    samples[sample.name + "{" + labels + "}"] = sample.value
            print(json.dumps(samples))
            """
        let child = try ChildProcess("python3", ["-c", script])
        child.input.fileHandleForWriting.write(Data(body.utf8))
        try child.input.fileHandleForWriting.close()
        let (status, output) = try child.finish()
        guard status == 0 else { throw TestFailure("the Prometheus parser refused the text: \(child.errorText)") }
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8))
        guard let samples = object as? [String: Double] else { throw TestFailure("parser output: \(output)") }
        return samples
    }

    static func value(_ samples: [String: Double], _ key: String) throws -> Double {
        guard let value = samples[key] else { throw TestFailure("no sample \(key) in \(samples.keys.sorted())") }
        return value
    }

    @Test func countersRiseByWhatWasSentAndTheParserTakesEveryLine() throws {
        let port = try TCPPorts.free()
        let sw = try SwitchProcess(arguments: ["--metrics", String(port)])
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        // Both stations learned, so a's frames go to b alone.
        try b.send(b.frame(to: .broadcast, tag: 1))
        _ = try a.receive()
        try a.send(a.frame(to: b.mac, tag: 2))
        _ = try b.receive()

        let before = try Self.parse(try Self.scrape(port: port))
        for index in 0..<100 {
            try a.send(a.frame(to: b.mac, size: 100, tag: UInt8(index)))
            #expect(try b.receive()?.count == 100)
            // Scrapes while the frames flow.
            if index % 25 == 0 { _ = try Self.parse(try Self.scrape(port: port)) }
        }
        let after = try Self.parse(try Self.scrape(port: port))

        func delta(_ key: String) throws -> Double { try Self.value(after, key) - Self.value(before, key) }
        #expect(try delta(#"f2f_port_frames_total{direction="in",port="1"}"#) == 100)
        #expect(try delta(#"f2f_port_bytes_total{direction="in",port="1"}"#) == 10_000)
        // Port 2 is also sent the spanning tree's hellos (one every 2 s).
        let out = try delta(#"f2f_port_frames_total{direction="out",port="2"}"#)
        #expect(out >= 100 && out <= 103)
        #expect(try delta(#"f2f_port_bytes_total{direction="out",port="2"}"#) >= 10_000)
        #expect(try Self.value(after, #"f2f_port_drops_total{port="1",reason="queue-full"}"#) == 0)
        #expect(try Self.value(after, #"f2f_port_paused_total{port="1"}"#) == 0)
        #expect(try Self.value(after, "f2f_mac_table_entries{}") == 2)
        #expect(try Self.value(after, #"f2f_stp_port_role{port="1",role="designated"}"#) == 1)
        #expect(try Self.value(after, #"f2f_stp_port_role{port="1",role="root"}"#) == 0)
        #expect(try Self.value(after, #"f2f_refused_connections_total{reason="stranger"}"#) == 0)
        #expect(try Self.value(after, #"f2f_peer_handshake_failures_total{reason="failed"}"#) == 0)
        #expect(after.keys.contains { $0.hasPrefix("f2f_build_info{") })
        let started = try Self.value(after, "process_start_time_seconds{}")
        #expect(abs(started - Date().timeIntervalSince1970) < 120)
        try sw.stop()
    }

    @Test func badRequestsGetTheirErrorAndForwardingGoesOn() throws {
        let port = try TCPPorts.free()
        let sw = try SwitchProcess(arguments: ["--metrics", "127.0.0.1:\(port)"])
        let a = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0a")
        let b = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:0b")
        func forwards(_ tag: UInt8) throws {
            let frame = a.frame(to: .broadcast, tag: tag)
            try a.send(frame)
            #expect(try b.receive() == frame)
        }

        // A slow client: half a request line, then nothing.
        let slow = try TCPPorts.connect(port: port)
        defer { close(slow) }
        _ = "GET /met".withCString { send(slow, $0, 8, 0) }

        let huge = "GET /metrics HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: 64 << 10) + "\r\n\r\n"
        #expect(try Self.exchange(port: port, Array(huge.utf8)).hasPrefix("HTTP/1.1 431 "))
        try forwards(1)
        let post = try Self.exchange(port: port, Array("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".utf8))
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n") && post.contains("Allow: GET\r\n"))
        #expect(try Self.exchange(port: port, [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x0A]).hasPrefix("HTTP/1.1 400 "))
        #expect(try Self.exchange(port: port, Array("GET / HTTP/1.1\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 404 "))
        try forwards(2)

        // Sixteen idle connections take every slot: the seventeenth is closed at once, unanswered.
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<15 { idle.append(try TCPPorts.connect(port: port)) }
        let refused = try TCPPorts.connect(port: port)
        let (bytes, closed) = TCPPorts.readUntilClosed(refused, timeout: 2000)
        close(refused)
        #expect(closed && bytes.isEmpty)
        try forwards(3)
        for fd in idle { close(fd) }
        idle.removeAll()

        // The slow client is told 408 and closed once its time (5 s) is up.
        let (slowAnswer, slowClosed) = TCPPorts.readUntilClosed(slow, timeout: 8000)
        #expect(slowClosed && String(decoding: slowAnswer, as: UTF8.self).hasPrefix("HTTP/1.1 408 "))
        _ = try Self.parse(try Self.scrape(port: port))
        try forwards(4)
        let (status, _) = try sw.stop()
        #expect(status == 0)
    }

    @Test func onlyAPortMeansLoopback() throws {
        let port = try TCPPorts.free()
        let sw = try SwitchProcess(arguments: ["--metrics", String(port)])
        let listening = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)
        let hexPort = String(format: ":%04X", port)
        // State 0A is LISTEN; the local address must be 127.0.0.1 (0100007F), not 0.0.0.0.
        let lines = listening.split(separator: "\n").filter { $0.contains(hexPort + " ") && $0.contains(" 0A ") }
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.contains("0100007F" + hexPort) })
        try sw.stop()
    }
}
