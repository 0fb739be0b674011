import F2FBase
import Testing

@testable import F2FTransportUDP

/// The mutual friend's matching on virtual time: only pairs that asked for each other are
/// introduced, each to the other's endpoints, again with backoff until they link.
@Suite struct IntroductionBrokerTests {
    typealias Broker = IntroductionBroker<String, String>
    let t0 = Instant(nanoseconds: 1_000_000_000)

    func at(_ seconds: Int64) -> Instant { t0 + .seconds(seconds) }

    func linked(_ nodes: [String: Set<String>]) -> Broker {
        var broker = Broker()
        for (node, wants) in nodes {
            broker.setWants(wants, local: ["\(node)-lan"], of: node)
            broker.setObserved("\(node)-nat", of: node)
        }
        return broker
    }

    @Test func twoNodesThatAskForEachOtherAreEachGivenTheOthersEndpoints() {
        var broker = linked(["A": ["B"], "B": ["A"]])
        let introductions = broker.due(now: t0)
        #expect(introductions.count == 2)
        #expect(introductions.contains(.init(to: "A", about: "B", endpoints: ["B-nat", "B-lan"])))
        #expect(introductions.contains(.init(to: "B", about: "A", endpoints: ["A-nat", "A-lan"])))
    }

    @Test func aOneSidedWishIsNeverIntroduced() {
        // A has B in its friend list; B does not have A (or does not want it): B's endpoint is
        // never revealed to A, nor A's to B.
        var broker = linked(["A": ["B"], "B": ["D"], "D": []])
        for second in 0..<200 { #expect(broker.due(now: at(Int64(second))).isEmpty) }
        #expect(broker.counters.introductions == 0)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func inRandomMeshesEveryIntroductionIsBetweenNodesThatAskedForEachOther(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let nodes = (0..<8).map { "N\($0)" }
        var wants: [String: Set<String>] = [:]
        for node in nodes {
            wants[node] = Set(nodes.filter { $0 != node && Bool.random(using: &rng) })
        }
        var broker = linked(wants)
        var introduced = Set<String>()
        for second in 0..<100 {
            for introduction in broker.due(now: at(Int64(second))) {
                #expect(wants[introduction.to]?.contains(introduction.about) == true, "\(introduction.to) asked for \(introduction.about)")
                #expect(wants[introduction.about]?.contains(introduction.to) == true, "\(introduction.about) asked for \(introduction.to)")
                #expect(introduction.endpoints.first == "\(introduction.about)-nat")
                introduced.insert("\(introduction.to)>\(introduction.about)")
            }
        }
        let mutual = nodes.flatMap { a in nodes.filter { b in wants[a]!.contains(b) && wants[b]!.contains(a) }.map { "\(a)>\($0)" } }
        #expect(introduced == Set(mutual), "and every mutual pair is introduced")
    }

    @Test func nodesWhoseDatagramsWeHaveNotSeenWaitForAnEndpoint() {
        var broker = Broker()
        broker.setWants(["B"], local: [], of: "A")
        broker.setWants(["A"], local: [], of: "B")
        broker.setObserved("A-nat", of: "A")
        #expect(broker.due(now: t0).isEmpty)
        broker.setObserved("B-nat", of: "B")
        #expect(broker.due(now: at(1)).count == 2)
    }

    @Test func aPairIsIntroducedAgainWithBackoffUntilItStopsAsking() {
        var broker = linked(["A": ["B"], "B": ["A"]])
        var times: [Int64] = []
        for second in Int64(0)...40 where !broker.due(now: at(second)).isEmpty { times.append(second) }
        #expect(times == [0, 2, 6, 14, 30], "2 s, 4 s, 8 s, 16 s apart")
        #expect(broker.counters.retries == 4)
        // They linked directly: A no longer asks for B.
        broker.setWants([], local: [], of: "A")
        #expect(broker.due(now: at(100)).isEmpty)
        #expect(broker.pairCount == 0)
        // Their link broke: asking again starts afresh, at once.
        broker.setWants(["B"], local: [], of: "A")
        #expect(broker.due(now: at(101)).count == 2)
        #expect(broker.due(now: at(102)).isEmpty)
        #expect(broker.due(now: at(103)).count == 2)
    }

    @Test func theBackoffStopsGrowingAtItsMaximum() {
        var broker = IntroductionBroker<String, String>(policy: .init(firstRetry: .seconds(1), maximumRetry: .seconds(4)))
        broker.setWants(["B"], local: [], of: "A")
        broker.setWants(["A"], local: [], of: "B")
        broker.setObserved("a", of: "A")
        broker.setObserved("b", of: "B")
        var times: [Int64] = []
        for second in Int64(0)...20 where !broker.due(now: at(second)).isEmpty { times.append(second) }
        #expect(times == [0, 1, 3, 7, 11, 15, 19])
    }

    @Test func aNodeThatLeavesIsIntroducedToNobody() {
        var broker = linked(["A": ["B"], "B": ["A"]])
        broker.remove("B")
        #expect(broker.due(now: t0).isEmpty)
    }

    @Test func aNodeAskingForItselfIsIgnored() {
        var broker = linked(["A": ["A"]])
        #expect(broker.due(now: t0).isEmpty)
    }
}
