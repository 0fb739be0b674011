import ArgumentParser
import EthernetSwitch
import Glibc

/// `f2f-bench`: a load generator for any VDE switch (f2f-switch or vde_switch, unchanged).
/// Two clients attach through libvdeplug; one blasts unicast frames at the other.
@main
struct F2FBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "f2f-bench",
        abstract: "Measure frame rate, loss and latency through a VDE switch.",
        discussion: "Prints one 'RESULT key=value …' line per measurement for scripts (Scripts/bench/switch-bench.sh)."
    )

    @Option(name: [.short, .customLong("sock")], help: "Socket directory of the switch under test.")
    var socketDirectory: String

    @Option(name: .customLong("receiver-sock"), help: "Attach the receiving client here instead (a second switch linked to the first: measures the link).")
    var receiverDirectory: String?

    @Option(name: .customLong("sender-dgram"), help: "Attach the sender to this f2f-switch --dgram socket instead of through libvdeplug (measures a dgram port).")
    var senderDgram: String?

    @Option(name: .customLong("sender-stream"), help: "Attach the sender to this f2f-switch --stream unix socket instead (measures a stream port).")
    var senderStream: String?

    @Flag(name: .customLong("dgram-connected"), help: "With --sender-dgram: connect the sender's socket once instead of naming the switch's path in every datagram (QEMU given a connected socket with -netdev dgram,local.type=fd).")
    var dgramConnected = false

    @Option(help: "Comma-separated frame sizes in bytes.")
    var sizes: String = "64,512,1514"

    @Option(help: "Seconds of saturated load per frame size; 0 skips it (latency only, as callgrind runs want).")
    var seconds: Double = 3

    @Option(help: "Round trips measured for latency (at low load, one frame in flight).")
    var latencySamples: Int = 2000

    @Option(help: "PID of the switch, to report its CPU time per frame.")
    var switchPid: Int32?

    @Option(help: "PID of the receiver's switch when it is another (two linked switches), to report its CPU time per frame too.")
    var receiverSwitchPid: Int32?

    func validate() throws {
        guard frameSizes.allSatisfy({ (60...9000).contains($0) }), !frameSizes.isEmpty else {
            throw ValidationError("--sizes must be 60…9000 bytes each")
        }
        guard seconds >= 0, latencySamples > 10 else { throw ValidationError("--seconds must not be negative, --latency-samples must be above 10") }
    }

    var frameSizes: [Int] { sizes.split(separator: ",").compactMap { Int($0) } }

    func run() throws {
        let senderAddress = MACAddress(parsing: "02:be:00:00:00:0a")!
        let sender = try senderDgram.map { try BenchClient(dgramPath: $0, address: senderAddress, connected: dgramConnected) }
            ?? senderStream.map { try BenchClient(streamPath: $0, address: senderAddress) }
            ?? BenchClient(directory: socketDirectory, address: senderAddress, name: "sender")
        let receiver = try BenchClient(directory: receiverDirectory ?? socketDirectory, address: MACAddress(parsing: "02:be:00:00:00:0b")!, name: "receiver")
        try introduce(sender, receiver)
        for size in frameSizes where seconds > 0 {
            let result = try Throughput.measure(from: sender, to: receiver, size: size, seconds: seconds, switchPID: switchPid, receiverSwitchPID: receiverSwitchPid)
            print(result.line)
        }
        for size in frameSizes {
            let result = try Latency.measure(between: sender, and: receiver, size: size, samples: latencySamples)
            print(result.line)
        }
    }

    /// Each client sends a broadcast so the switch learns both stations: the load is then
    /// known unicast, the common case.
    private func introduce(_ a: BenchClient, _ b: BenchClient) throws {
        for (from, to) in [(a, b), (b, a)] {
            try from.sendOne(BenchClient.makeFrame(from: from.address, to: .broadcast, size: 60))
            guard to.waitReadable(milliseconds: 2000) else { throw ValidationError("no frame crossed the switch") }
            _ = try to.receiveBurst()
        }
    }
}
