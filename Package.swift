// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // Debug builds (the ones the tests run) keep Swift's run-time exclusivity checks; release
    // builds drop them, as the standard library's own build does: on the data path they were
    // about a tenth of a peer link's CPU per frame (docs/data-path.md).
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")

let package = Package(
    name: "f2f-switch",
    products: [
        .executable(name: "f2f-switch", targets: ["F2FSwitchCLI"]),
        .executable(name: "f2f-bench", targets: ["F2FBench"]),
        .library(name: "F2FSwitchNode", targets: ["F2FSwitchNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
    ],
    targets: [
        // Pure targets: no I/O, no clock, no Foundation.
        .target(name: "F2FBase", swiftSettings: strict),
        .target(name: "EthernetSwitch", dependencies: ["F2FBase"], swiftSettings: strict),
        .target(name: "F2FCore", dependencies: ["F2FBase", logging], swiftSettings: strict),

        // The only OS-facing code: event loop, descriptors, sockets.
        .target(name: "CF2FSystem"),
        .target(name: "F2FPosix", dependencies: ["F2FBase", "F2FCore", "CF2FSystem", logging], swiftSettings: strict),

        // The TCP reference provider of F2F connections.
        .target(name: "F2FTransportTCP", dependencies: ["F2FBase", "F2FCore", "F2FPosix", logging], swiftSettings: strict),

        // Friend links over UDP (issue 15): datagram sessions keyed over the authenticated stream.
        .target(name: "F2FTransportUDP", dependencies: ["F2FBase", "EthernetSwitch", "F2FCore", "F2FPosix", "F2FSecure", logging], swiftSettings: strict),

        // libvdeplug (Debian libvdeplug-dev, vdeplug4): the real VDE client library.
        .systemLibrary(name: "CVDEPlug"),
        .target(name: "VDEPlug", dependencies: ["CVDEPlug", "F2FPosix"], swiftSettings: strict),

        // ChaCha20-Poly1305 in place for the UDP path's datagrams: BoringSSL's AEAD, which
        // swift-crypto links in (CF2FAEAD declares the few functions it calls).
        .target(name: "CF2FAEAD", dependencies: [crypto]),

        // Port mapping on the home router (--map-port): libnatpmp (Debian libnatpmp-dev, no
        // pkg-config file) and miniupnpc (libminiupnpc-dev), used only by F2FPortMapping.
        .systemLibrary(name: "CNATPMP", providers: [.apt(["libnatpmp-dev"])]),
        .systemLibrary(name: "CMiniUPnPc", pkgConfig: "miniupnpc", providers: [.apt(["libminiupnpc-dev"])]),
        .target(name: "F2FPortMapping", dependencies: ["F2FBase", "F2FCore", "F2FPosix", "CF2FSystem", "CNATPMP", "CMiniUPnPc", logging], swiftSettings: strict),

        // Friends only: Noise XX authenticated, encrypted links as a provider over any connection.
        .target(name: "F2FSecure", dependencies: ["F2FBase", "F2FCore", "CF2FAEAD", logging, crypto], swiftSettings: strict),

        // The switch runtime: the engine over real ports, the port kinds every switch has (friend
        // links, --plug cables, QEMU stream/dgram sockets), the console and its command sets.
        .target(
            name: "SwitchRuntime",
            dependencies: ["EthernetSwitch", "F2FBase", "F2FCore", "F2FPosix", "VDEPlug", logging],
            swiftSettings: strict
        ),

        // The vde2 control protocol: the ctl socket, the handshake, one data endpoint per client.
        .target(
            name: "VDEServer",
            dependencies: ["SwitchRuntime", "EthernetSwitch", "F2FBase", "F2FCore", "F2FPosix", logging],
            swiftSettings: strict
        ),

        // The node: friend links, identity store, friends file and the application that wires a
        // switch, its VDE server and its friends together. Everything `f2f-switch` runs, importable.
        .target(
            name: "F2FSwitchNode",
            dependencies: [
                "F2FBase", "EthernetSwitch", "F2FCore", "F2FPosix", "F2FPortMapping", "F2FSecure", "F2FTransportTCP", "F2FTransportUDP", "SwitchRuntime", "VDEServer",
                logging,
            ],
            swiftSettings: strict
        ),

        // `f2f-switch`: options and main.
        .executableTarget(
            name: "F2FSwitchCLI",
            dependencies: [
                "F2FBase", "EthernetSwitch", "F2FCore", "F2FPosix", "F2FSecure", "F2FTransportTCP", "SwitchRuntime", "F2FSwitchNode", logging, argumentParser,
            ],
            swiftSettings: strict
        ),

        // Load generator for any VDE switch (benchmarks side by side with vde_switch).
        .executableTarget(
            name: "F2FBench",
            dependencies: ["EthernetSwitch", "F2FPosix", "VDEPlug", argumentParser],
            swiftSettings: strict
        ),

        // Test support: fixtures, seeded fault injection, simulators. Never I/O.
        .target(name: "F2FTesting", dependencies: ["F2FBase", "EthernetSwitch", "F2FCore"], swiftSettings: strict),

        .testTarget(name: "F2FBaseTests", dependencies: ["F2FBase"], swiftSettings: strict),
        .testTarget(name: "F2FPortMappingTests", dependencies: ["F2FPortMapping", "F2FPosix", "F2FCore", "F2FBase"], swiftSettings: strict),
        .testTarget(name: "F2FPosixTests", dependencies: ["F2FPosix", "F2FBase", "F2FCore"], swiftSettings: strict),
        .testTarget(name: "F2FCoreTests", dependencies: ["F2FCore", "F2FBase", "F2FTesting", logging], swiftSettings: strict),
        .testTarget(
            name: "F2FSecureTests", dependencies: ["F2FSecure", "F2FBase", "F2FCore", "F2FTesting", logging, crypto],
            swiftSettings: strict),
        .testTarget(
            name: "F2FTransportUDPTests",
            dependencies: ["F2FTransportUDP", "EthernetSwitch", "F2FCore", "F2FBase", "F2FPosix", "F2FSecure", "F2FTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "F2FTransportTCPTests", dependencies: ["F2FTransportTCP", "F2FCore", "F2FBase", "F2FTesting", logging],
            swiftSettings: strict),
        .testTarget(name: "EthernetSwitchTests", dependencies: ["EthernetSwitch", "F2FBase", "F2FTesting"], swiftSettings: strict),
        .testTarget(
            name: "SwitchRuntimeTests", dependencies: ["SwitchRuntime", "EthernetSwitch", "F2FBase", "F2FCore", "F2FPosix", "F2FTesting", logging],
            swiftSettings: strict),
        .testTarget(name: "VDEServerTests", dependencies: ["VDEServer", "SwitchRuntime", "F2FCore", "F2FPosix", "F2FTesting"], swiftSettings: strict),
        .testTarget(
            name: "F2FSwitchNodeTests",
            dependencies: ["F2FSwitchNode", "SwitchRuntime", "EthernetSwitch", "F2FBase", "F2FCore", "F2FSecure", "F2FTesting", logging],
            swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["VDEPlug", "SwitchRuntime", "VDEServer", "F2FCore", "F2FPosix", "F2FSecure", "EthernetSwitch", "F2FBase", "F2FTesting"],
            swiftSettings: strict
        ),

        // Fuzzing (Scripts/fuzz.sh): one pure harness per parser, a libFuzzer entry point
        // (built with -DFUZZING -sanitize=fuzzer; otherwise a replayer of input files), and the
        // found inputs replayed as regression tests.
        .target(
            name: "F2FFuzzHarness",
            dependencies: ["F2FBase", "EthernetSwitch", "F2FCore", "F2FPosix", "F2FSecure", "SwitchRuntime", "VDEServer", logging],
            swiftSettings: strict
        ),
        .executableTarget(name: "F2FFuzz", dependencies: ["F2FFuzzHarness"], swiftSettings: strict),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["F2FFuzzHarness", "F2FTesting"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
