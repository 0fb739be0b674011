/// One fuzz target: a name for `F2F_FUZZ_TARGET`, the `Fixtures/` folders whose `.hex` files
/// seed it, and a pure function that feeds arbitrary bytes to a parser and traps (through
/// `precondition`) when an invariant breaks, so libFuzzer and the regression tests see a crash.
public struct FuzzHarness: Sendable {
    public let name: String
    /// Folders under `Fixtures/` (e.g. `"vde"`); `Fixtures/fuzz/<name>/` is always added.
    public let seedFixtureDirectories: [String]
    public let run: @Sendable (UnsafeRawBufferPointer) -> Void

    public init(_ name: String, seeds seedFixtureDirectories: [String] = [], run: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.name = name
        self.seedFixtureDirectories = seedFixtureDirectories
        self.run = run
    }

    /// Where found inputs (and hand-written seeds) are kept as regression tests.
    public var regressionDirectory: String { "fuzz/" + name }
}

/// The registry the fuzz executable, `Scripts/fuzz.sh` and `FuzzRegressionTests` all read.
/// Adding a harness is one line here (plus its file).
public enum FuzzHarnesses {
    public static let all: [FuzzHarness] = [
        FuzzHarness("vde-request", seeds: ["vde"], run: VDERequestHarness.run),
        FuzzHarness("f2f-packet", run: F2FPacketHarness.run),
        FuzzHarness("bpdu", seeds: ["stp", "ethernet"], run: BPDUHarness.run),
        FuzzHarness("ethernet-header", seeds: ["ethernet", "stp"], run: EthernetHeaderHarness.run),
        FuzzHarness("console", run: ConsoleHarness.run),
        FuzzHarness("noise-handshake", run: NoiseHandshakeHarness.run),
    ]

    public static func named(_ name: String) -> FuzzHarness? {
        all.first { $0.name == name }
    }
}
