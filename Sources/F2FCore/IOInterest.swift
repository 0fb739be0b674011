/// Which readiness events an owner wants for a descriptor.
public struct IOInterest: OptionSet, Sendable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let readable = IOInterest(rawValue: 1)
    public static let writable = IOInterest(rawValue: 2)
    public static let none: IOInterest = []

    public init(readable: Bool, writable: Bool) {
        self = []
        if readable { insert(.readable) }
        if writable { insert(.writable) }
    }
}

/// What the loop reported for a descriptor. Hang-ups and errors are reported as readable (and
/// writable) too, so the owner's next read or write sees the EOF or the error.
public struct IOReadiness: OptionSet, Sendable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let readable = IOReadiness(rawValue: 1)
    public static let writable = IOReadiness(rawValue: 2)
    public static let hangup = IOReadiness(rawValue: 4)
}

/// The owner of a registered descriptor; called on the loop thread only.
public protocol IOHandler: AnyObject {
    func handle(_ readiness: IOReadiness)
}
