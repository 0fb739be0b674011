import ArgumentParser
import EthernetSwitch
import F2FBase
import F2FPosix
import Glibc
import Logging
import VDEServer

/// Runs the switch until SIGINT/SIGTERM/SIGHUP or the console's `shutdown`.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the switch (the default when no subcommand is given)."
    )

    @OptionGroup var options: SwitchOptions

    func run() throws {
        if options.daemon { try Daemon.detach() }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = options.quiet ? .warning : [.info, .debug, .trace][min(options.verbosity, 2)]
            return handler
        }
        let logger = Logger(label: "f2f.switch")
        let application: SwitchApplication
        do {
            application = try SwitchApplication(options: options, logger: logger)
            try application.start()
        } catch let error as VDEServerError {
            logger.error("\(error)")
            throw ExitCode.failure
        }
        if !options.daemon { application.printAttachInstructions() }
        application.run()
    }
}
