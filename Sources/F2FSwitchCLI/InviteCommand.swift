import ArgumentParser
import F2FPosix
import F2FSecure
import F2FSwitchNode
import F2FTransportTCP

/// `f2f-switch invite`: a one-time link a friend passes to `f2f-switch join`. The secret is
/// recorded in `invitations` next to the identity, where the running switch looks for it.
struct InviteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Print a one-time invitation link for a new friend (f2f-switch join LINK on their side).",
        discussion: "Give the switch's own options (--identity, --listen or --address) so the link names this node and where it listens.")

    /// `--identity` and `--listen` belong to the switch's options, as for `f2f-switch id`.
    @ParentCommand var switchCommand: F2FSwitchCommand

    @Option(name: .customLong("expires"), help: "How long the invitation stays good: seconds, or a number with s, m, h or d.")
    var expires = Lifetime(seconds: 3600)

    @Option(name: .customLong("address"), help: "HOST:PORT the joiner dials (repeatable; default: the --listen address, with this host's name when it listens on all addresses).")
    var addresses: [String] = []

    func validate() throws {
        for address in addresses where TCPAddress(parsing: address)?.host == nil {
            throw ValidationError("--address: expected HOST:PORT, got '\(address)'")
        }
    }

    func run() throws {
        do {
            let settings = switchCommand.options.settings
            let path = try settings.resolvedIdentityPath()
            let (key, created) = try IdentityStore.loadOrCreate(at: path)
            if created { ProcessEnvironment.writeToStandardError("created identity \(path)\n") }
            let dialable = addresses.isEmpty ? Self.listenAddresses(settings.listen) : addresses
            guard !dialable.isEmpty else {
                ProcessEnvironment.writeToStandardError("f2f-switch: an invitation needs where this node listens: give --listen [HOST:]PORT or --address HOST:PORT\n")
                throw ExitCode.failure
            }
            let invitation = try InvitationDesk.issue(
                inviter: key.id, addresses: dialable, lifetime: .seconds(expires.seconds),
                ledgerPath: InvitationDesk.ledgerPath(identityPath: path), now: WallClock.secondsSinceEpoch())
            print(invitation.link)
        } catch let error as ExitCode {
            throw error
        } catch {
            ProcessEnvironment.writeToStandardError("f2f-switch: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// The listen address as a friend would dial it: an unspecified host becomes this host's name.
    private static func listenAddresses(_ listen: TCPAddress?) -> [String] {
        guard var listen else { return [] }
        if listen.host == nil || listen.host == "0.0.0.0" || listen.host == "::" {
            guard let name = ProcessEnvironment.hostName else { return [] }
            listen.host = name
        }
        return [listen.description]
    }
}

/// `--expires`: `90`, `90s`, `30m`, `1h`, `7d`.
struct Lifetime: ExpressibleByArgument {
    var seconds: Int64

    init(seconds: Int64) {
        self.seconds = seconds
    }

    init?(argument: String) {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = Substring(argument)
        var unit: Int64 = 1
        if let last = argument.last, let scale = units[last] {
            unit = scale
            number = number.dropLast()
        }
        guard let value = Int64(number), value > 0, value <= 365 * 86400 / unit else { return nil }
        seconds = value * unit
    }

    var defaultValueDescription: String { "1h" }
}
