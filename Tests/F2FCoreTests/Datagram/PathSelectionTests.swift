import F2FBase
import F2FCore
import Testing

@Suite struct PathSelectionTests {
    static func at(_ milliseconds: Int64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    /// Ticks every millisecond from `start` through `end`; probes are answered after `rtt` while
    /// `udpPasses(now)`. Returns the probe times and the switches with their times.
    static func run(
        _ selection: inout PathSelection, from start: Int64, through end: Int64, rtt: Int64 = 30,
        udpPasses: (Int64) -> Bool, peerSendsData: Bool = false
    ) -> (probes: [Int64], switches: [(Int64, PathSelection.Path)]) {
        var probes: [Int64] = []
        var switches: [(Int64, PathSelection.Path)] = []
        var answers: [Int64] = []
        var actions: [PathSelection.Action] = []
        for now in start...end {
            if answers.contains(now) { selection.probeAnswered(now: at(now), actions: &actions) }
            if peerSendsData, udpPasses(now), now % 5 == 0 { selection.datagramReceived(now: at(now)) }
            selection.tick(now: at(now), actions: &actions)
            for action in actions {
                switch action {
                case .sendProbe:
                    probes.append(now)
                    if udpPasses(now) { answers.append(now + rtt) }
                case .switchTo(let path): switches.append((now, path))
                }
            }
            actions.removeAll()
        }
        return (probes, switches)
    }

    @Test func udpIsUsedOnceAProbeIsAnswered() {
        var selection = PathSelection(now: Self.at(0))
        #expect(selection.path == .tcp)
        let run = Self.run(&selection, from: 0, through: 100, udpPasses: { _ in true })
        #expect(run.probes == [0])
        #expect(run.switches.map(\.0) == [30])
        #expect(selection.path == .udp)
    }

    @Test func blockedUDPFallsBackToTCPAndRetriesWithBackoff() {
        var selection = PathSelection(now: Self.at(0))
        let run = Self.run(&selection, from: 0, through: 300_000, udpPasses: { _ in false })
        #expect(selection.path == .tcp)
        #expect(run.switches.isEmpty)
        #expect(Array(run.probes.prefix(8)) == [0, 250, 500, 750, 3_000, 3_250, 3_500, 3_750])
        // Tries start 2 s, 4 s, 8 s … after the previous try failed, up to 120 s apart.
        let tryStarts = run.probes.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        #expect(Array(tryStarts.prefix(5)) == [0, 3_000, 8_000, 17_000, 34_000])
        let gaps = zip(tryStarts.dropFirst(), tryStarts).map { $0 - $1 }
        #expect(gaps.max()! == 120_000 + 1_000)
        #expect(run.probes.count < 50)
        #expect(selection.fallbacks == tryStarts.count)
    }

    @Test func silenceOnUDPMovesFramesToTCPAndBackWhenUDPPassesAgain() {
        var selection = PathSelection(now: Self.at(0))
        // UDP passes, is blocked from 5 s to 20 s, then passes again; the peer sends data.
        let passes: (Int64) -> Bool = { $0 < 5_000 || $0 >= 20_000 }
        let run = Self.run(&selection, from: 0, through: 40_000, udpPasses: passes, peerSendsData: true)
        let switches = run.switches.map { "\($0.1)@\($0.0)" }
        // Last datagram at 4 995 ms; one second of silence, then TCP.
        #expect(switches.first == "udp@30")
        #expect(switches.dropFirst().first == "tcp@5995")
        #expect(switches.last!.hasPrefix("udp@"))
        let back = run.switches.last!.0
        #expect(back >= 20_000 && back <= 20_000 + 8_000 + 1_000 + 30)
        #expect(selection.path == .udp)
        // While UDP carried data, no probes were needed.
        #expect(run.probes.filter { $0 > 100 && $0 < 5_000 }.isEmpty)
    }

    @Test func dataArrivingOneWayDoesNotSwitchToUDP() {
        var selection = PathSelection(now: Self.at(0))
        var actions: [PathSelection.Action] = []
        selection.datagramReceived(now: Self.at(1))
        selection.tick(now: Self.at(1), actions: &actions)
        #expect(selection.path == .tcp)
        #expect(actions == [.sendProbe])
    }

    @Test func nextDeadlineIsWhenTickHasWork() {
        var selection = PathSelection(now: Self.at(0))
        var actions: [PathSelection.Action] = []
        selection.tick(now: Self.at(0), actions: &actions)
        #expect(selection.nextDeadline == Self.at(250))
        selection.probeAnswered(now: Self.at(40), actions: &actions)
        #expect(selection.nextDeadline == Self.at(1_040))
    }
}
