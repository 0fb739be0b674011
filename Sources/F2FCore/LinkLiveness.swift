import F2FBase

/// Whether a friend link is alive: paces its keepalives from the measured round-trip time and
/// declares the link dead after a silence that is short (800 ms) when the RTT is small and grows
/// with the RTT and its variation, so that a link that merely got slow is not taken for dead.
///
/// A link has up to two paths, and hearing from the friend on either keeps it alive:
/// - the stream (Noise over TCP), which carries a keepalive from each side every
///   `keepaliveSpacing` whatever else it carries. Every keepalive that finds no ping of ours
///   outstanding is a *ping* the friend echoes at once, which gives the stream's RTT (a
///   keepalive is never resent by us, so every sample is unambiguous);
/// - the datagram path, when there is one: any authenticated datagram, which includes the
///   probes and echoes `PathSelection` and `PathMonitor` exchange several times a second
///   (`DatagramPathLiveness`).
/// So with UDP the datagram probes decide, and a stream stalled by TCP's retransmissions does
/// not kill the link; without UDP (blocked, or `--no-udp`) the stream's keepalives decide.
///
/// Silence on the stream alone still ends the link after `maximumDeadAfter` (the `--liveness`
/// interval): the spanning tree's BPDUs travel on the stream, and a port whose BPDUs stopped
/// while frames still cross could form a loop.
public struct LinkLiveness: Sendable {
    public struct Configuration: Sendable {
        /// No silence shorter than this is death, so a burst of loss or jitter does not kill a
        /// link; on a path with a small RTT this is the detection time.
        public var minimumDeadAfter: Duration
        /// The longest silence any link is given, however slow (`--liveness`); also the limit
        /// for silence on the stream while datagrams still arrive.
        public var maximumDeadAfter: Duration
        /// RTOs of silence before death, when that lies between the bounds.
        public var deadAfterRTOs: Int
        /// Keepalives go at least this often, whatever the RTT.
        public var maximumKeepaliveSpacing: Duration

        public init(
            minimumDeadAfter: Duration = .milliseconds(800), maximumDeadAfter: Duration = .seconds(3), deadAfterRTOs: Int = 4,
            maximumKeepaliveSpacing: Duration = .milliseconds(500)
        ) {
            self.minimumDeadAfter = minimumDeadAfter
            self.maximumDeadAfter = maximumDeadAfter
            self.deadAfterRTOs = deadAfterRTOs
            self.maximumKeepaliveSpacing = maximumKeepaliveSpacing
        }
    }

    /// What a link's datagram path knows of the friend (`Connection.datagramLiveness`).
    public struct DatagramReport: Equatable, Sendable {
        /// When its last authenticated datagram arrived; nil before any.
        public var lastHeard: Instant?
        /// Its RTO once it has measured a round trip.
        public var retransmissionTimeout: Duration?

        public init(lastHeard: Instant?, retransmissionTimeout: Duration?) {
            self.lastHeard = lastHeard
            self.retransmissionTimeout = retransmissionTimeout
        }
    }

    public enum Action: Equatable, Sendable {
        /// A keepalive on the stream; `ping` asks the friend to echo it.
        case sendKeepalive(ping: UInt32?)
        /// Nothing heard for `silence` (on every path, or on the stream for the maximum).
        case declareDead(silence: Duration)
    }

    public let configuration: Configuration
    /// The stream's round trips, from keepalive pings.
    public private(set) var rtt = RTTEstimator()
    /// The last sign of life on any path.
    public private(set) var lastHeard: Instant
    /// The last packet that came over the stream.
    public private(set) var lastStreamHeard: Instant
    private var lastKeepaliveSent: Instant?
    private var outstandingPing: (sequence: UInt32, sentAt: Instant)?
    private var nextPing: UInt32 = 0
    private var datagramRTO: Duration?
    private var isDead = false

    public init(configuration: Configuration = Configuration(), now: Instant) {
        self.configuration = configuration
        lastHeard = now
        lastStreamHeard = now
    }

    /// Silence after which the link is dead: `deadAfterRTOs` times the larger RTO of the paths
    /// that have a measurement (before any, the maximum), between the bounds.
    public var deadAfter: Duration {
        var measured = datagramRTO
        if rtt.smoothed != nil { measured = max(measured ?? .zero, rtt.retransmissionTimeout) }
        guard let measured else { return configuration.maximumDeadAfter }
        let minimum = min(configuration.minimumDeadAfter, configuration.maximumDeadAfter)
        return min(max(measured * configuration.deadAfterRTOs, minimum), configuration.maximumDeadAfter)
    }

    /// Four keepalives per `deadAfter`, so one lost or late costs nothing (the friend measures
    /// about the same RTT, hence about the same `deadAfter`): paced by the RTT through
    /// `deadAfter`, 200 ms on a fast path; never more than `maximumKeepaliveSpacing` apart.
    public var keepaliveSpacing: Duration {
        min(deadAfter / 4, configuration.maximumKeepaliveSpacing)
    }

    /// The friend was heard at `instant` (a packet read; an earlier instant changes nothing):
    /// `onStream` when it can only have come over the stream (any packet but a frame, which
    /// may have come as a datagram).
    public mutating func heard(at instant: Instant, onStream: Bool) {
        if onStream { lastStreamHeard = max(lastStreamHeard, instant) }
        lastHeard = max(lastHeard, instant)
    }

    /// The friend's echo of one of our pings.
    public mutating func pingAnswered(sequence: UInt32, now: Instant) {
        guard let ping = outstandingPing, ping.sequence == sequence else { return }
        outstandingPing = nil
        rtt.add(sample: now - ping.sentAt)
    }

    /// What the datagram path reports, before each `tick`.
    public mutating func update(_ report: DatagramReport) {
        if let heard = report.lastHeard { lastHeard = max(lastHeard, heard) }
        datagramRTO = report.retransmissionTimeout
    }

    /// The earliest moment `tick` has something to do.
    public var nextDeadline: Instant? {
        guard !isDead else { return nil }
        let keepalive = lastKeepaliveSent.map { $0 + keepaliveSpacing } ?? lastHeard
        return min(keepalive, lastHeard + deadAfter, lastStreamHeard + configuration.maximumDeadAfter)
    }

    public mutating func tick(now: Instant) -> Action? {
        guard !isDead else { return nil }
        let silence = now - lastHeard
        let streamSilence = now - lastStreamHeard
        if silence >= deadAfter || streamSilence >= configuration.maximumDeadAfter {
            isDead = true
            return .declareDead(silence: silence >= deadAfter ? silence : streamSilence)
        }
        if let sent = lastKeepaliveSent, now - sent < keepaliveSpacing { return nil }
        lastKeepaliveSent = now
        // A ping whose echo has not come within the longest silence is lost: ask again.
        if let ping = outstandingPing, now - ping.sentAt < configuration.maximumDeadAfter {
            return .sendKeepalive(ping: nil)
        }
        let sequence = nextPing
        nextPing &+= 1
        outstandingPing = (sequence, now)
        return .sendKeepalive(ping: sequence)
    }
}
