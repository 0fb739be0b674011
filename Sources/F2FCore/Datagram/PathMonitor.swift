import F2FBase

/// Liveness of one datagram path: paces probes from the measured RTT, estimates loss from the
/// last probes, and declares the path dead after a silence that is short (about 1 s) when the
/// RTT is small and grows with the RTT and its variation, up to a bound, so a path that merely
/// got slow is not taken for dead.
///
/// Any authenticated datagram counts as a sign of life (`received(now:)`), so a busy link sends
/// no probes at all; a probe goes out only after the path has been quiet for `probeSpacing`, then
/// every `probeSpacing`. A probe is a small datagram the peer echoes with its sequence number; the echo
/// gives an RTT sample (probes are never retransmitted, so every sample is unambiguous).
public struct PathMonitor: Sendable {
    public struct Configuration: Sendable {
        /// Silence is never declared death before this, so a short burst of loss or jitter
        /// does not kill a link; on a path with a small RTT this is the detection time.
        public var minimumDeadAfter: Duration
        /// A slow path gets this long at most before being declared dead.
        public var maximumDeadAfter: Duration
        /// RTOs of silence before death, when that lies above the minimum.
        public var deadAfterRTOs: Int
        /// Probe outcomes remembered for the loss estimate.
        public var lossWindow: Int

        public init(
            minimumDeadAfter: Duration = .milliseconds(800), maximumDeadAfter: Duration = .seconds(10),
            deadAfterRTOs: Int = 4, lossWindow: Int = 32
        ) {
            self.minimumDeadAfter = minimumDeadAfter
            self.maximumDeadAfter = maximumDeadAfter
            self.deadAfterRTOs = deadAfterRTOs
            self.lossWindow = lossWindow
        }
    }

    public enum Action: Equatable, Sendable {
        case sendProbe(sequence: UInt32)
        /// Once per death; the next datagram received brings the path back to life.
        case declareDead
    }

    private enum State: Sendable {
        case alive(lastHeard: Instant, nextProbe: Instant?)
        case dead(since: Instant)
    }

    private struct Probe: Sendable {
        var sequence: UInt32
        var sentAt: Instant
        var answered: Bool
    }

    public let configuration: Configuration
    public private(set) var rtt = RTTEstimator()
    private var state: State
    private var nextSequence: UInt32 = 0
    /// A ring of the last probes: the loss estimate and the matching of echoes to send times.
    private var probes: [Probe?]
    private var probeCursor = 0

    public init(configuration: Configuration = Configuration(), now: Instant) {
        precondition(configuration.lossWindow > 0, "the loss window needs a probe")
        self.configuration = configuration
        state = .alive(lastHeard: now, nextProbe: nil)
        probes = Array(repeating: nil, count: configuration.lossWindow)
    }

    /// When the last authenticated datagram came; nil after `init` until one does.
    public private(set) var lastDatagram: Instant?

    public var isDead: Bool {
        if case .dead = state { true } else { false }
    }

    /// Silence after which the path is declared dead: `deadAfterRTOs` RTOs (RTO grows with
    /// RTTVAR), bounded by the minimum and the maximum.
    public var deadAfter: Duration {
        min(max(rtt.retransmissionTimeout * configuration.deadAfterRTOs, configuration.minimumDeadAfter), configuration.maximumDeadAfter)
    }

    /// Quiet time before the first probe and between probes: an RTO, but no more often than
    /// four per `deadAfter` (an idle link costs a few small datagrams a second) and at least two
    /// before death is declared.
    public var probeSpacing: Duration {
        min(max(rtt.retransmissionTimeout, deadAfter / 4), deadAfter / 2)
    }

    /// The fraction of the remembered probes that were not answered, once answered probes have
    /// had an RTO to come back; nil before any probe.
    public func lossRate(now: Instant) -> Double? {
        var settled = 0
        var lost = 0
        let grace = rtt.retransmissionTimeout
        for case let probe? in probes where probe.answered || now - probe.sentAt >= grace {
            settled += 1
            if !probe.answered { lost += 1 }
        }
        return settled == 0 ? nil : Double(lost) / Double(settled)
    }

    /// An RTT measured elsewhere, e.g. over the handshake.
    public mutating func addRTTSample(_ sample: Duration) {
        rtt.add(sample: sample)
    }

    /// Any authenticated datagram from the peer.
    public mutating func received(now: Instant) {
        lastDatagram = now
        state = .alive(lastHeard: now, nextProbe: nil)
    }

    /// The peer's echo of probe `sequence`: an RTT sample if the probe is still remembered.
    public mutating func probeAnswered(sequence: UInt32, now: Instant) {
        received(now: now)
        for index in probes.indices {
            guard var probe = probes[index], probe.sequence == sequence, !probe.answered else { continue }
            probe.answered = true
            probes[index] = probe
            rtt.add(sample: now - probe.sentAt)
            return
        }
    }

    /// The earliest moment `tick` has something to do.
    public var nextDeadline: Instant? {
        switch state {
        case .alive(let lastHeard, let nextProbe): min(nextProbe ?? lastHeard + probeSpacing, lastHeard + deadAfter)
        case .dead: nil
        }
    }

    public mutating func tick(now: Instant) -> Action? {
        guard case .alive(let lastHeard, let nextProbe) = state else { return nil }
        if now - lastHeard >= deadAfter {
            state = .dead(since: now)
            return .declareDead
        }
        let due = nextProbe ?? lastHeard + probeSpacing
        guard now >= due else { return nil }
        let sequence = nextSequence
        nextSequence &+= 1
        probes[probeCursor] = Probe(sequence: sequence, sentAt: now, answered: false)
        probeCursor = (probeCursor + 1) % probes.count
        state = .alive(lastHeard: lastHeard, nextProbe: now + probeSpacing)
        return .sendProbe(sequence: sequence)
    }
}
