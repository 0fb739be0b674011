import ArgumentParser

/// `f2f-switch`: with no subcommand, runs the switch.
@main
struct F2FSwitchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "f2f-switch",
        abstract: "A rootless virtual Ethernet switch that VDE clients (QEMU, vde_plug, libvdeplug) attach to.",
        subcommands: [RunCommand.self],
        defaultSubcommand: RunCommand.self
    )
}
