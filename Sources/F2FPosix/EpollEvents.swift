import CF2FSystem
import F2FCore

extension IOInterest {
    var epollEvents: UInt32 {
        var events: UInt32 = 0
        if contains(.readable) { events |= EPOLLIN.rawValue }
        if contains(.writable) { events |= EPOLLOUT.rawValue }
        return events
    }
}

extension IOReadiness {
    init(epollEvents events: UInt32) {
        var readiness: IOReadiness = []
        let failed = events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
        if events & EPOLLIN.rawValue != 0 || failed { readiness.insert(.readable) }
        if events & EPOLLOUT.rawValue != 0 || failed { readiness.insert(.writable) }
        if failed { readiness.insert(.hangup) }
        self = readiness
    }
}
