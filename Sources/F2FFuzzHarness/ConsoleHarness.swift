import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import Logging
import SwitchRuntime
import VDEServer

/// The management console: the input is what a session sends, split into lines exactly as
/// `ConsoleSession` splits it, and each line goes through `Console.execute(line:)` with the
/// switch's real command table over an idle engine (no ports, no sockets opened).
enum ConsoleHarness {
    @Sendable static func run(_ input: UnsafeRawBufferPointer) {
        let console = makeConsole()
        for line in input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let text = String(decoding: line, as: UTF8.self)
            ConsoleReplyCheck.check(console.execute(line: text), for: text)
        }
    }

    /// A fresh console per input, so that one input's `hash/setexpire` cannot change the next
    /// input's outcome and every crash replays from its file alone. The loop is only an epoll
    /// and an eventfd; nothing is registered on it.
    private static func makeConsole() -> Console {
        let loop: EpollEventLoop
        do {
            loop = try EpollEventLoop(maxEventsPerWakeup: 1)
        } catch {
            preconditionFailure("cannot create an event loop (environment, not input): \(error)")
        }
        let logger = Logger(label: "f2f.fuzz") { _ in SwiftLogNoOpLogHandler() }
        let engine = SwitchEngine(
            configuration: SwitchConfiguration(portCount: 8, maxFrameSize: 1518),
            loop: loop, logger: logger, burstQueueCapacity: 4)
        let console = Console(banner: SwitchConsoleCommands.banner())
        SwitchConsoleCommands.register(
            on: console,
            context: SwitchConsoleContext(
                engine: engine,
                controlDirectory: "/nonexistent/f2f-fuzz", socketMode: SocketPermissions().socketMode,
                bridgeAddress: MACAddress(0x02, 0x66, 0x00, 0x00, 0x00, 0x01),
                managementPath: "/nonexistent/f2f-fuzz.mgmt", managementMode: 0o600,
                startedAt: loop.now))
        return console
    }
}
