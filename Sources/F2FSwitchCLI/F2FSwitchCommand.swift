import ArgumentParser
import EthernetSwitch
import F2FBase
import F2FCore
import F2FPosix
import F2FSwitchNode
import Logging
import SwitchRuntime

/// `f2f-switch`: runs the switch until SIGINT/SIGTERM or the console's `shutdown` (SIGHUP
/// re-reads the friends file).
@main
struct F2FSwitchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "f2f-switch",
        abstract: "A rootless virtual Ethernet switch that VDE clients (QEMU, vde_plug, libvdeplug) attach to, and a node of a friend-to-friend peer mesh.",
        subcommands: [IdentityCommand.self, NetworkKeyCommand.self, InviteCommand.self, JoinCommand.self, CaptureCommand.self]
    )

    @OptionGroup var options: SwitchOptions

    func run() throws {
        if options.daemon { try ProcessEnvironment.detachAsDaemon() }
        HeapTuning.keepLargeBlocksOnHeap()
        ProcessEnvironment.raiseDescriptorLimit()
        LoggingSystem.bootstrap { label in
            var handler = EscapingLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = options.quiet ? .warning : [.info, .debug, .trace][min(options.verbosity, 2)]
            return handler
        }
        let logger = Logger(label: "f2f.switch")
        let application: SwitchApplication
        do {
            application = try SwitchApplication(settings: options.settings, logger: logger)
            try application.start()
        } catch {
            // What the switch could not set up (a socket in use, a key file refused, a failing
            // rcfile line) is one log line like every other, not a usage message.
            switch error {
            case is ServerSocketError, is IdentityStore.Failure, is RCFile.Failure, is SystemError, is ConnectionError:
                logger.error("cannot start: \(error)")
                throw ExitCode.failure
            default:
                throw error
            }
        }
        if !options.daemon { application.printAttachInstructions() }
        application.run()
    }
}
