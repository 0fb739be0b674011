import EthernetSwitch
import F2FTesting
import Logging
import SwitchRuntime
import Testing

/// `stp/*` on a real engine and tree, on virtual time: what vdeterm users type, what they get back.
@Suite struct SpanningTreeConsoleCommandsTests {
    let loop = ManualEventLoop()
    let engine: SwitchEngine
    let console = Console(banner: "test\n")
    let tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0001))

    init() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        engine = SwitchEngine(configuration: SwitchConfiguration(portCount: 8), spanningTree: tree, loop: loop, logger: logger)
        SpanningTreeConsoleCommands.register(on: console, engine: engine, settings: tree)
        engine.attach(RecordingLink("one", id: 1), port: 1)
    }

    func reply(_ line: String) -> String { console.execute(line: line).text }

    func printed() -> String { reply("stp/print") }

    @Test func printShowsTheBridgeAndEachPort() {
        let text = printed()
        #expect(text.contains("STP=on version 2"))
        #expect(text.contains("\nbridge 8000.02:00:00:00:00:01 ROOT\n"))
        #expect(text.contains("Port 0001 role=designated state=forwarding cost=20000 edge=1"))
        // The hello a port sends when it comes up (every port, edge or not).
        #expect(text.contains("bpdu-out=1"))
        #expect(!text.contains("Port 0002"))
    }

    @Test func priorityMustBeAStepOf4096() {
        #expect(reply("stp/setprio 4096").hasPrefix("1000 Success"))
        #expect(printed().contains("bridge 1000."))
        #expect(reply("stp/setprio 4097").hasPrefix("1022 Invalid argument"))
        #expect(reply("stp/setprio 65536").hasPrefix("1022"))
        #expect(reply("stp/setprio x").hasPrefix("1022"))
        #expect(printed().contains("bridge 1000."))
    }

    @Test func costAndEdgeNeedAnActivePort() {
        #expect(reply("stp/setcost 1 4000").hasPrefix("1000"))
        #expect(printed().contains("cost=4000"))
        #expect(reply("stp/setcost 3 4000").hasPrefix("1006 No such device or address"))
        #expect(reply("stp/setcost 1 0").hasPrefix("1022"))
        #expect(reply("stp/setedge 1 1").hasPrefix("1000"))
        #expect(reply("stp/setedge 1 2").hasPrefix("1022"))
    }

    @Test func guardsShowInPrint() {
        #expect(reply("stp/setrootguard 1 1").hasPrefix("1000"))
        #expect(reply("stp/setbpduguard 1 1").hasPrefix("1000"))
        let text = printed()
        #expect(text.contains(" guards=root,bpdu "))
        #expect(reply("stp/setrootguard 1 0").hasPrefix("1000"))
        #expect(printed().contains(" guards=bpdu "))
        #expect(reply("stp/setrootguard 7 1").hasPrefix("1006"))
    }

    @Test func disablingTheTreeTurnsItsCommandsOff() {
        #expect(reply("stp/enable 0").hasPrefix("1000"))
        #expect(printed().contains("STP=off"))
        #expect(reply("stp/setprio 4096").hasPrefix("1019 No such device"))
        #expect(reply("stp/settcinterval 500").hasPrefix("1019"))
        #expect(reply("stp/enable 1").hasPrefix("1000"))
        #expect(printed().contains("STP=on"))
        #expect(reply("stp/enable 2").hasPrefix("1022"))
    }

    @Test func topologyChangeIntervalIsBounded() {
        #expect(reply("stp/settcinterval 500").hasPrefix("1000"))
        #expect(printed().contains("every 0.5 seconds"))
        #expect(reply("stp/settcinterval 99").hasPrefix("1022"))
        #expect(reply("stp/settcinterval 60001").hasPrefix("1022"))
    }
}
