import F2FBase

/// Which path a friend link's frames take: UDP by default, the TCP link as the fallback.
///
/// UDP is used once datagrams are shown to pass both ways: a probe of ours answered by the peer
/// (the answer is an authenticated datagram that echoes the probe, so it crossed both
/// directions). Until then, and whenever UDP goes silent, frames take TCP. A link starts by
/// trying UDP with a few quick probes; if none is answered it settles on TCP and tries UDP again
/// after a backoff that doubles up to a bound, so a network that blocks UDP costs one probe
/// every few minutes, and a network that unblocks it gets UDP back at the next try.
public struct PathSelection: Sendable {
    public enum Path: Equatable, Sendable {
        case udp
        case tcp
    }

    public struct Configuration: Sendable {
        /// Spacing of probes while trying UDP.
        public var probeInterval: Duration
        /// Unanswered probes in one try before it counts as failed.
        public var probesPerTry: Int
        /// Silence on UDP (no authenticated datagram) after which frames go back to TCP.
        public var silenceLimit: Duration
        public var initialBackoff: Duration
        public var maximumBackoff: Duration

        public init(
            probeInterval: Duration = .milliseconds(250), probesPerTry: Int = 4, silenceLimit: Duration = .seconds(1),
            initialBackoff: Duration = .seconds(2), maximumBackoff: Duration = .seconds(120)
        ) {
            self.probeInterval = probeInterval
            self.probesPerTry = probesPerTry
            self.silenceLimit = silenceLimit
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    public enum Action: Equatable, Sendable {
        case sendProbe
        case switchTo(Path)
    }

    private enum State: Sendable {
        /// Frames on TCP; probing UDP. `backoff` is the wait after this try, should it fail.
        case trying(probesSent: Int, nextProbe: Instant, backoff: Duration)
        /// Frames on UDP since the last answered probe.
        case udp(lastHeard: Instant)
        /// Frames on TCP; UDP tried again at `retryAt`.
        case tcp(retryAt: Instant, backoff: Duration)
    }

    public let configuration: Configuration
    private var state: State
    /// Failed tries and switches, for `peer/print`.
    public private(set) var fallbacks = 0

    /// A new link: frames on TCP, UDP tried at once.
    public init(configuration: Configuration = Configuration(), now: Instant) {
        self.configuration = configuration
        state = .trying(probesSent: 0, nextProbe: now, backoff: configuration.initialBackoff)
    }

    public var path: Path {
        switch state {
        case .udp: .udp
        case .trying, .tcp: .tcp
        }
    }

    public var nextDeadline: Instant {
        switch state {
        case .trying(_, let nextProbe, _): nextProbe
        case .udp(let lastHeard): lastHeard + configuration.silenceLimit
        case .tcp(let retryAt, _): retryAt
        }
    }

    /// The peer answered one of our probes: datagrams pass both ways.
    public mutating func probeAnswered(now: Instant, actions: inout [Action]) {
        switch state {
        case .trying, .tcp:
            state = .udp(lastHeard: now)
            actions.append(.switchTo(.udp))
        case .udp:
            state = .udp(lastHeard: now)
        }
    }

    /// Any other authenticated datagram. It shows only that datagrams reach us, not that ours
    /// reach the peer, so it keeps UDP alive but does not switch to it.
    public mutating func datagramReceived(now: Instant) {
        if case .udp = state { state = .udp(lastHeard: now) }
    }

    public mutating func tick(now: Instant, actions: inout [Action]) {
        switch state {
        case .trying(let sent, let nextProbe, let backoff):
            guard now >= nextProbe else { return }
            if sent < configuration.probesPerTry {
                state = .trying(probesSent: sent + 1, nextProbe: now + configuration.probeInterval, backoff: backoff)
                actions.append(.sendProbe)
            } else {
                fallbacks += 1
                state = .tcp(retryAt: now + backoff, backoff: min(backoff * 2, configuration.maximumBackoff))
            }
        case .udp(let lastHeard):
            guard now - lastHeard >= configuration.silenceLimit else { return }
            fallbacks += 1
            // Try again at once: a short outage or a roaming peer is back within a try.
            state = .trying(probesSent: 0, nextProbe: now, backoff: configuration.initialBackoff)
            actions.append(.switchTo(.tcp))
        case .tcp(let retryAt, let backoff):
            guard now >= retryAt else { return }
            state = .trying(probesSent: 1, nextProbe: now + configuration.probeInterval, backoff: backoff)
            actions.append(.sendProbe)
        }
    }
}
