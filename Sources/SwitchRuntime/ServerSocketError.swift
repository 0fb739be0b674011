import F2FPosix

/// Why a listening socket (the VDE ctl directory, the console, `--stream`, `--dgram`) cannot be served.
public enum ServerSocketError: Error, CustomStringConvertible {
    case pathTooLong(String)
    case notADirectory(String)
    case unsafe(UnsafeFile)
    case inUse(String)
    case noPort(String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .pathTooLong(let path): "socket path too long (max 107 bytes): \(path)"
        case .notADirectory(let path): "\(path) exists and is not a directory"
        case .unsafe(let problem): "refused: \(problem)"
        case .inUse(let path): "another switch is serving \(path) (it answers on its control socket)"
        case .noPort(let what): what
        case .system(let error): error.description
        }
    }
}
