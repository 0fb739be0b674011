import F2FPosix

/// `pcap/*`: writing what a port or a friend link sends and receives to a pcap file
/// (docs/packet-capture.md). A friend link is named `peer NAME`; the node resolves the name
/// to the link's port (`peerPort`).
public enum PacketCaptureConsoleCommands {
    /// `N` or `peer NAME`, and the words after it.
    static func target(
        _ words: [Substring], engine: SwitchEngine, peerPort: (String) -> Int?
    ) throws(ConsoleError) -> (port: Int, rest: ArraySlice<Substring>) {
        guard let first = words.first else { throw .invalidArgument }
        if first == "peer" {
            guard words.count >= 2 else { throw .invalidArgument }
            guard let port = peerPort(String(words[1])) else { throw .noSuchDeviceOrAddress }
            return (port, words[2...])
        }
        guard let port = Int(first), engine.core.ports.indices.contains(port) else { throw .invalidArgument }
        return (port, words[1...])
    }

    public static func register(on console: Console, engine: SwitchEngine, peerPort: @escaping (String) -> Int?) {
        console.addMenu(ConsoleMenu("pcap", title: "PACKET CAPTURE MENU"))
        console.add(ConsoleCommand("pcap/start", syntax: "N|peer NAME FILE [MAXBYTES]", help: "write what port N (or a friend's link) sends and receives to a new pcap FILE") {
            argument throws(ConsoleError) in
            let words = argument.split(separator: " ", omittingEmptySubsequences: true)
            let (port, rest) = try target(words, engine: engine, peerPort: peerPort)
            guard rest.count == 1 || rest.count == 2, let path = rest.first else { throw .invalidArgument }
            var maximumBytes = PacketCapture.defaultMaximumBytes
            if rest.count == 2 {
                guard let value = Int(rest[rest.startIndex + 1]), value >= PcapFormat.fileHeaderCount else { throw .invalidArgument }
                maximumBytes = value
            }
            guard engine.capture(at: port) == nil else { throw .inUse }
            let capture: PacketCapture
            do throws(SystemError) {
                let file = try FileSystem.createNewPrivateFile(String(path))
                capture = PacketCapture(destination: .file(String(path)), descriptor: file, maximumBytes: maximumBytes, loop: engine.loop)
            } catch {
                throw consoleError(error)
            }
            guard engine.startCapture(capture, port: port) == nil else { throw .inUse }
            engine.logger.info("packet capture started", metadata: ["port": "\(port)", "capture": "\(capture.destination)"])
            return []
        })
        console.add(ConsoleCommand("pcap/stop", syntax: "N|peer NAME", help: "stop capturing port N (or a friend's link) and close its file") { argument throws(ConsoleError) in
            let words = argument.split(separator: " ", omittingEmptySubsequences: true)
            let (port, rest) = try target(words, engine: engine, peerPort: peerPort)
            guard rest.isEmpty else { throw .invalidArgument }
            guard let capture = engine.stopCapture(port: port) else { throw .noSuchDevice }
            // The file is whole and closed when the command answers: the writer thread has at
            // most its chunks (4 MiB) left to write.
            capture.waitUntilWritten()
            engine.logger.info("packet capture stopped", metadata: ["port": "\(port)", "capture": "\(capture.summary)"])
            return []
        })
        console.add(ConsoleCommand("pcap/print", help: "print the captures running", printsData: true) { _ in
            engine.core.ports.indices.compactMap { port in
                engine.capture(at: port).map { "Port \(port) \($0.summary)" }
            }
        })
    }

    static func consoleError(_ error: SystemError) -> ConsoleError {
        switch error.errno {
        case Errno.fileExists: .exists
        case Errno.noSuchFile: .noSuchFile
        default: .permissionDenied
        }
    }
}
