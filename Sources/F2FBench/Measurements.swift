import ArgumentParser
import Glibc

enum Throughput {
    struct Result {
        var size: Int
        var sent: Int
        var received: Int
        var seconds: Double
        var switchCPUNanoseconds: UInt64?
        /// This process's own CPU (sender and receiver): whether the generator, not the
        /// switch, limited the rate, and what the sender's kind of port costs its sender.
        var generatorCPUNanoseconds: UInt64?
        var receiverSwitchCPUNanoseconds: UInt64?

        var framesPerSecond: Double { Double(received) / seconds }
        var loss: Double { sent == 0 ? 0 : 1 - Double(received) / Double(sent) }

        var line: String {
            var text = "RESULT kind=throughput size=\(size) sent=\(sent) received=\(received)"
            text += " fps=\(Int(framesPerSecond)) loss_pct=\(format(loss * 100))"
            text += " gbps=\(format(framesPerSecond * Double(size) * 8 / 1e9))"
            if let cpu = switchCPUNanoseconds, received > 0 {
                text += " switch_cpu_us_per_frame=\(format(Double(cpu) / 1000 / Double(received)))"
                text += " switch_cpu_s_per_gb=\(format(Double(cpu) / 1e9 / (Double(received * size) / 1e9)))"
            }
            if let cpu = generatorCPUNanoseconds, received > 0 {
                text += " generator_cpu_us_per_frame=\(format(Double(cpu) / 1000 / Double(received)))"
            }
            if let cpu = receiverSwitchCPUNanoseconds, received > 0 {
                text += " receiver_switch_cpu_us_per_frame=\(format(Double(cpu) / 1000 / Double(received)))"
            }
            return text
        }
    }

    /// The sender keeps its socket full for `seconds`; the receiver drains as it can. Both
    /// run in this one thread (non-blocking, batched), so the generator takes one core and the
    /// switch the other.
    static func measure(from sender: BenchClient, to receiver: BenchClient, size: Int, seconds: Double, switchPID: Int32?, receiverSwitchPID: Int32? = nil) throws -> Result {
        let frame = BenchClient.makeFrame(from: sender.address, to: receiver.address, size: size)
        var sent = 0
        var received = 0
        let cpuBefore = switchPID.flatMap(SwitchCPU.nanoseconds(pid:))
        let ownCPUBefore = SwitchCPU.nanoseconds(pid: getpid())
        let receiverCPUBefore = receiverSwitchPID.flatMap(SwitchCPU.nanoseconds(pid:))
        let start = Clock.nanoseconds()
        let end = start + UInt64(seconds * 1e9)
        var pollers = [
            pollfd(fd: sender.descriptor, events: Int16(POLLOUT), revents: 0),
            pollfd(fd: receiver.descriptor, events: Int16(POLLIN), revents: 0),
        ]
        try frame.withUnsafeBytes { bytes in
            while Clock.nanoseconds() < end {
                _ = poll(&pollers, 2, 10)
                if pollers[0].revents & Int16(POLLOUT) != 0 {
                    sent += try sender.sendBurst(bytes, count: 64)
                }
                if pollers[1].revents & Int16(POLLIN) != 0 {
                    received += try receiver.receiveBurst()
                }
            }
        }
        let elapsed = Double(Clock.nanoseconds() - start) / 1e9
        // Frames still in flight when the sender stopped count, they were forwarded.
        while receiver.waitReadable(milliseconds: 200) {
            received += try receiver.receiveBurst()
        }
        let cpuAfter = switchPID.flatMap(SwitchCPU.nanoseconds(pid:))
        let receiverCPUAfter = receiverSwitchPID.flatMap(SwitchCPU.nanoseconds(pid:))
        let cpu = cpuBefore.flatMap { before in cpuAfter.map { $0 - before } }
        let ownCPU = ownCPUBefore.flatMap { before in SwitchCPU.nanoseconds(pid: getpid()).map { $0 - before } }
        let receiverCPU = receiverCPUBefore.flatMap { before in receiverCPUAfter.map { $0 - before } }
        return Result(
            size: size, sent: sent, received: received, seconds: elapsed, switchCPUNanoseconds: cpu,
            generatorCPUNanoseconds: ownCPU, receiverSwitchCPUNanoseconds: receiverCPU)
    }
}

enum Latency {
    struct Result {
        var size: Int
        var roundTrips: [Double]
        var lost: Int

        func percentile(_ p: Double) -> Double {
            guard !roundTrips.isEmpty else { return .nan }
            let sorted = roundTrips.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }

        var line: String {
            "RESULT kind=latency size=\(size) samples=\(roundTrips.count) lost=\(lost)"
                + " rtt_p50_us=\(format(percentile(0.5))) rtt_p99_us=\(format(percentile(0.99)))"
        }
    }

    /// One frame in flight: A → switch → B, B echoes → switch → A.
    static func measure(between a: BenchClient, and b: BenchClient, size: Int, samples: Int) throws -> Result {
        let there = BenchClient.makeFrame(from: a.address, to: b.address, size: size)
        let back = BenchClient.makeFrame(from: b.address, to: a.address, size: size)
        var roundTrips: [Double] = []
        roundTrips.reserveCapacity(samples)
        var lost = 0
        for _ in 0..<samples {
            let start = Clock.nanoseconds()
            try a.sendOne(there)
            guard try b.awaitFrame(milliseconds: 1000) else { lost += 1; continue }
            try b.sendOne(back)
            guard try a.awaitFrame(milliseconds: 1000) else { lost += 1; continue }
            roundTrips.append(Double(Clock.nanoseconds() - start) / 1000)
        }
        return Result(size: size, roundTrips: roundTrips, lost: lost)
    }
}

func format(_ value: Double) -> String {
    guard value.isFinite else { return "nan" }
    let scaled = (value * 1000).rounded() / 1000
    return String(scaled)
}
