import CNATPMP
import F2FBase
import F2FCore
import F2FPosix

/// NAT-PMP (RFC 6886) with the default gateway through libnatpmp, driven by the loop: the
/// library's socket is nonblocking and connected to the gateway's port 5351; we watch it while a
/// request is pending and call `readnatpmpresponseorretry` when it is readable or when the
/// library's retry time comes (it resends at 250 ms, doubling). One request at a time.
final class NATPMPClient {
    enum Answer: Equatable {
        case publicAddress([UInt8])
        case mapping(PortMappingProtocol, internalPort: UInt16, externalPort: UInt16, lifetime: UInt32)
    }

    /// The RFC retries for about 64 s; a gateway silent for this long does not speak NAT-PMP
    /// (or drops it), and UPnP-IGD is tried instead.
    static let giveUpAfter: Duration = .milliseconds(3500)

    private let loop: any EventLoop
    private let state: UnsafeMutablePointer<natpmp_t>
    private var completion: ((Result<Answer, PortMappingFailure>) -> Void)?
    /// The pending request, to tell its answer from a late duplicate answer to an earlier one
    /// (libnatpmp resends after 250 ms and takes whatever answer comes first), and to send it
    /// again when such a stray cleared the library's pending request.
    private var pending: Request?
    private var sentAt: Instant = .zero
    private var timer: EventLoop.TimerID?
    private var watching = false
    /// Requests sent (libnatpmp's own resends not counted).
    private(set) var requests: UInt64 = 0
    /// Late duplicate answers to earlier requests, set aside.
    private(set) var strays: UInt64 = 0

    /// The gateway's IPv4 address, dotted.
    let gateway: String

    init(loop: any EventLoop) throws(PortMappingFailure) {
        self.loop = loop
        state = .allocate(capacity: 1)
        state.initialize(to: natpmp_t())
        let status = initnatpmp(state, 0, 0)
        guard status == 0 else {
            state.deallocate()
            throw status == NATPMP_ERR_CANNOTGETGATEWAY ? .noDefaultGateway : .natpmpLibrary(code: status)
        }
        gateway = Self.dotted(state.pointee.gateway)
    }

    deinit {
        close()
        state.deallocate()
    }

    var isBusy: Bool { completion != nil }

    func requestPublicAddress(_ completion: @escaping (Result<Answer, PortMappingFailure>) -> Void) {
        send(.publicAddress, completion)
    }

    /// Asks for `externalPort` (the gateway may give another) for `lifetime` seconds.
    func requestMapping(
        _ transport: PortMappingProtocol, internalPort: UInt16, externalPort: UInt16, lifetime: UInt32,
        _ completion: @escaping (Result<Answer, PortMappingFailure>) -> Void
    ) {
        send(.mapping(transport, internalPort: internalPort, externalPort: externalPort, lifetime: lifetime), completion)
    }

    private enum Request {
        case publicAddress
        case mapping(PortMappingProtocol, internalPort: UInt16, externalPort: UInt16, lifetime: UInt32)

        func answers(_ answer: Answer) -> Bool {
            switch (self, answer) {
            case (.publicAddress, .publicAddress): true
            case (.mapping(let transport, let port, _, _), .mapping(let answered, let answeredPort, _, _)): transport == answered && port == answeredPort
            case (.publicAddress, .mapping), (.mapping, .publicAddress): false
            }
        }
    }

    private func transmit(_ request: Request) -> Int32 {
        switch request {
        case .publicAddress: sendpublicaddressrequest(state)
        case .mapping(let transport, let internalPort, let externalPort, let lifetime):
            sendnewportmappingrequest(state, Self.code(transport), internalPort, externalPort, lifetime)
        }
    }

    /// At exit, the loop no longer running: deletes the mappings (lifetime 0, external port 0,
    /// as RFC 6886 3.4 asks) and waits for each answer, all within `timeout`. Returns how many
    /// the gateway confirmed.
    func deleteBlocking(_ mappings: [(PortMappingProtocol, UInt16)], within timeout: Duration) -> Int {
        cancelPending()
        let deadline = MonotonicClock.now() + timeout
        var deleted = 0
        for (transport, port) in mappings {
            guard MonotonicClock.now() < deadline, sendnewportmappingrequest(state, Self.code(transport), port, 0, 0) >= 0 else { continue }
            requests &+= 1
            var response = natpmpresp_t()
            while case let left = deadline - MonotonicClock.now(), left > .zero {
                _ = Readiness.waitUntilReadable(state.pointee.s, timeout: min(.milliseconds(250), max(.milliseconds(1), left)))
                let status = readnatpmpresponseorretry(state, &response)
                if status == NATPMP_TRYAGAIN { continue }
                if status == 0, case .mapping(let answered, let answeredPort, _, _)? = Self.answer(response), answered != transport || answeredPort != port {
                    // A late answer to an earlier request: ask again for this one.
                    strays &+= 1
                    guard sendnewportmappingrequest(state, Self.code(transport), port, 0, 0) >= 0 else { break }
                    continue
                }
                if status == 0 { deleted += 1 }
                break
            }
        }
        return deleted
    }

    func close() {
        cancelPending()
        if state.pointee.s >= 0 {
            _ = closenatpmp(state)
            state.pointee.s = -1
        }
    }

    private func send(_ request: Request, _ completion: @escaping (Result<Answer, PortMappingFailure>) -> Void) {
        precondition(self.completion == nil, "one NAT-PMP request at a time")
        let status = transmit(request)
        guard status >= 0 else { return completion(.failure(.natpmpLibrary(code: status))) }
        requests &+= 1
        pending = request
        self.completion = completion
        sentAt = loop.now
        if !watching {
            do {
                try loop.register(state.pointee.s, interest: .readable, handler: IOClosure { [weak self] _ in self?.read() })
                watching = true
            } catch {
                return finish(.failure(.system(SystemError(error))))
            }
        }
        armRetryTimer()
    }

    private func armRetryTimer() {
        if let timer { loop.cancelTimer(timer) }
        var wait = timeval()
        let delay: Duration =
            getnatpmprequesttimeout(state, &wait) == 0
            ? .seconds(Int64(wait.tv_sec)) + .microseconds(Int64(wait.tv_usec)) : .milliseconds(250)
        timer = loop.schedule(after: max(.milliseconds(1), delay)) { [weak self] in
            self?.timer = nil
            self?.read()
        }
    }

    private func read() {
        guard completion != nil else { return }
        var response = natpmpresp_t()
        let status = readnatpmpresponseorretry(state, &response)
        if status == NATPMP_TRYAGAIN {
            if loop.now - sentAt >= Self.giveUpAfter { return finish(.failure(.natpmpNoAnswer(gateway: gateway))) }
            return armRetryTimer()
        }
        guard status == 0 else {
            let failure: PortMappingFailure =
                switch status {
                case NATPMP_ERR_NOGATEWAYSUPPORT:
                    loop.now - sentAt >= .seconds(1) ? .natpmpNoAnswer(gateway: gateway) : .natpmpRefused(gateway: gateway)
                case NATPMP_ERR_NOTAUTHORIZED, NATPMP_ERR_NETWORKFAILURE, NATPMP_ERR_OUTOFRESOURCES, NATPMP_ERR_UNDEFINEDERROR,
                    NATPMP_ERR_UNSUPPORTEDVERSION, NATPMP_ERR_UNSUPPORTEDOPCODE:
                    .natpmpRefusedRequest(code: status)
                default: .natpmpLibrary(code: status)
                }
            return finish(.failure(failure))
        }
        guard let answer = Self.answer(response) else { return finish(.failure(.natpmpRefusedRequest(code: Int32(response.type)))) }
        guard let pending, pending.answers(answer) else {
            // A late answer to an earlier request: ours is still to come; libnatpmp forgot
            // it, so it goes again.
            strays &+= 1
            if let pending, transmit(pending) >= 0 { requests &+= 1 }
            return armRetryTimer()
        }
        finish(.success(answer))
    }

    static func answer(_ response: natpmpresp_t) -> Answer? {
        switch Int32(response.type) {
        case NATPMP_RESPTYPE_PUBLICADDRESS:
            return .publicAddress(withUnsafeBytes(of: response.pnu.publicaddress.addr.s_addr) { Array($0) })
        case NATPMP_RESPTYPE_UDPPORTMAPPING, NATPMP_RESPTYPE_TCPPORTMAPPING:
            let mapping = response.pnu.newportmapping
            return .mapping(
                Int32(response.type) == NATPMP_RESPTYPE_UDPPORTMAPPING ? .udp : .tcp, internalPort: mapping.privateport,
                externalPort: mapping.mappedpublicport, lifetime: mapping.lifetime)
        default:
            return nil
        }
    }

    private func finish(_ result: Result<Answer, PortMappingFailure>) {
        let completion = self.completion
        cancelPending()
        completion?(result)
    }

    private func cancelPending() {
        completion = nil
        pending = nil
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        if watching { loop.deregister(state.pointee.s) }
        watching = false
    }

    private static func code(_ transport: PortMappingProtocol) -> Int32 {
        switch transport {
        case .udp: NATPMP_PROTOCOL_UDP
        case .tcp: NATPMP_PROTOCOL_TCP
        }
    }

    /// An `in_addr_t` (network order in memory) as dotted quad.
    static func dotted(_ address: in_addr_t) -> String {
        withUnsafeBytes(of: address) { $0.map(String.init).joined(separator: ".") }
    }
}
