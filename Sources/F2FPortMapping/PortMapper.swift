import F2FBase
import F2FCore
import F2FPosix
import Logging

/// `--map-port`: asks the home router to forward our UDP port (and the TCP listen port) to us,
/// NAT-PMP first (one UDP exchange with the default gateway, on the loop), then UPnP-IGD
/// (miniupnpc's blocking SSDP and SOAP, on a worker thread); renews at half the lifetime and
/// deletes the mappings at exit (docs/nat-traversal.md, "Port mapping"). A gateway that answers
/// neither costs one log line; the node then works exactly as without the option, and we ask
/// again now and then, quietly.
public final class PortMapper {
    public enum Method: String, Sendable {
        case natpmp = "nat-pmp"
        case upnp = "upnp-igd"
    }

    /// One port forwarded to us.
    public struct Mapping: Equatable, Sendable {
        public var transport: PortMappingProtocol
        public var internalPort: UInt16
        public var externalPort: UInt16
        /// Seconds granted; 0: permanent (a UPnP gateway without leases).
        public var lifetime: UInt32
    }

    /// The mappings in force.
    public struct Current: Sendable {
        public var method: Method
        public var gateway: String
        /// The router's external IPv4 address (4 bytes).
        public var externalAddress: [UInt8]
        public var mappings: [Mapping]
        public var mappedAt: Instant
        public var renewAt: Instant?
    }

    public struct Counters: Sendable {
        public var attempts: UInt64 = 0
        public var natpmpRequests: UInt64 = 0
        /// UPnP-IGD attempts (an SSDP discovery, then the SOAP requests), each on the worker.
        public var upnpAttempts: UInt64 = 0
        public var renewals: UInt64 = 0
        public var failures: UInt64 = 0
        public var removed: UInt64 = 0
    }

    /// Which attempt is in flight.
    private enum Attempt {
        case none
        case natpmp(remaining: [(PortMappingProtocol, UInt16)], external: [UInt8]?, done: [Mapping])
        case upnp(natpmpFailure: PortMappingFailure?)
    }

    /// After a failure (no gateway, or a renewal refused), the next try.
    public static let retryInterval: Duration = .seconds(600)

    public private(set) var current: Current?
    public private(set) var counters = Counters()
    /// The last failure of each method (nil after a success).
    public private(set) var lastFailure: String?
    /// The external endpoint of the UDP mapping changed (nil: no mapping now).
    public var onExternalEndpointChange: ((InetSocketAddress?) -> Void)?

    private let loop: any EventLoop
    private let logger: Logger
    private let requests: [(PortMappingProtocol, UInt16)]
    private let lifetime: UInt32
    private var natpmp: NATPMPClient?
    private var natpmpUnavailable: PortMappingFailure?
    /// Nil when its eventfd could not be made (`workerFailure` says why): NAT-PMP only.
    private let worker: BlockingWorker<Result<(UPnPGateway, [Mapping]), PortMappingFailure>>?
    private let workerFailure: SystemError?
    private var attempt = Attempt.none
    private var timer: EventLoop.TimerID?
    private var reportedUnavailable = false
    private var stopped = false
    private var upnpGateway: UPnPGateway?

    /// `ports`: what to forward, each to the same external port when the gateway allows.
    public init(loop: any EventLoop, ports: [(PortMappingProtocol, UInt16)], lifetime: UInt32, logger: Logger) {
        self.loop = loop
        self.logger = logger
        requests = ports
        self.lifetime = lifetime
        do {
            worker = try BlockingWorker(loop: loop)
            workerFailure = nil
        } catch {
            worker = nil
            workerFailure = error
        }
    }

    public func start() {
        begin()
    }

    /// The external endpoint of our UDP mapping.
    public var externalUDPEndpoint: InetSocketAddress? {
        guard let current, let udp = current.mappings.first(where: { $0.transport == .udp }) else { return nil }
        return InetSocketAddress(ip: current.externalAddress, port: udp.externalPort)
    }

    /// A whole attempt: NAT-PMP, then UPnP-IGD.
    private func begin() {
        guard !stopped else { return }
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        counters.attempts &+= 1
        if natpmp == nil, natpmpUnavailable == nil {
            do {
                natpmp = try NATPMPClient(loop: loop)
            } catch {
                natpmpUnavailable = error
            }
        }
        guard let natpmp else { return beginUPnP(natpmpFailure: natpmpUnavailable) }
        attempt = .natpmp(remaining: requests, external: nil, done: [])
        natpmp.requestPublicAddress { [weak self] in self?.natpmpAnswered($0) }
    }

    private func natpmpAnswered(_ result: Result<NATPMPClient.Answer, PortMappingFailure>) {
        guard case .natpmp(var remaining, var external, var done) = attempt, let natpmp else { return }
        counters.natpmpRequests = natpmp.requests
        switch result {
        case .failure(let failure):
            logger.debug("NAT-PMP failed", metadata: ["error": "\(failure)"])
            return beginUPnP(natpmpFailure: failure)
        case .success(.publicAddress(let address)):
            external = address
        case .success(.mapping(let transport, let internalPort, let externalPort, let lifetime)):
            done.append(Mapping(transport: transport, internalPort: internalPort, externalPort: externalPort, lifetime: lifetime))
        }
        guard let next = remaining.first, let address = external else {
            attempt = .none
            return mapped(.natpmp, gateway: natpmp.gateway, external: external ?? [], mappings: done)
        }
        let (transport, port) = next
        remaining.removeFirst()
        attempt = .natpmp(remaining: remaining, external: address, done: done)
        // The same external port as ours, or the one we had (renewal keeps it).
        let wanted = current?.mappings.first { $0.transport == transport && $0.internalPort == port }?.externalPort ?? port
        natpmp.requestMapping(transport, internalPort: port, externalPort: wanted, lifetime: lifetime) { [weak self] in self?.natpmpAnswered($0) }
    }

    private func beginUPnP(natpmpFailure: PortMappingFailure?) {
        guard let worker else { return failed(natpmp: natpmpFailure, upnp: .system(workerFailure ?? SystemError(errno: 0, operation: "eventfd"))) }
        attempt = .upnp(natpmpFailure: natpmpFailure)
        let requests = requests
        let lifetime = lifetime
        let previous = current?.method == .upnp ? current?.mappings ?? [] : []
        counters.upnpAttempts &+= 1
        do {
            try worker.run({
                switch UPnPGateway.discover() {
                case .failure(let failure): return .failure(failure)
                case .success(let gateway):
                    var mappings: [Mapping] = []
                    for (transport, port) in requests {
                        let wanted = previous.first { $0.transport == transport && $0.internalPort == port }?.externalPort ?? port
                        switch gateway.add(transport, internalPort: port, externalPort: wanted, lease: lifetime) {
                        case .failure(let failure):
                            for mapping in mappings { _ = gateway.delete(mapping.transport, externalPort: mapping.externalPort) }
                            return .failure(failure)
                        case .success(let granted):
                            mappings.append(Mapping(transport: transport, internalPort: port, externalPort: granted.externalPort, lifetime: granted.lease))
                        }
                    }
                    return .success((gateway, mappings))
                }
            }) { [weak self] result in self?.upnpAnswered(result) }
        } catch {
            failed(natpmp: natpmpFailure, upnp: .system(error))
        }
    }

    private func upnpAnswered(_ result: Result<(UPnPGateway, [Mapping]), PortMappingFailure>) {
        guard case .upnp(let natpmpFailure) = attempt else { return }
        attempt = .none
        switch result {
        case .failure(let failure):
            failed(natpmp: natpmpFailure, upnp: failure)
        case .success(let (gateway, mappings)):
            upnpGateway = gateway
            let address = gateway.externalAddress.split(separator: ".").compactMap { UInt8($0) }
            mapped(.upnp, gateway: gateway.controlURL, external: address.count == 4 ? address : [], mappings: mappings)
        }
    }

    private func mapped(_ method: Method, gateway: String, external: [UInt8], mappings: [Mapping]) {
        let previous = current
        let endpointBefore = externalUDPEndpoint
        let shortest = mappings.map(\.lifetime).filter { $0 > 0 }.min()
        current = Current(
            method: method, gateway: gateway, externalAddress: external, mappings: mappings, mappedAt: loop.now,
            renewAt: shortest.map { loop.now + .milliseconds(max(1000, Int64($0) * 500)) })
        lastFailure = nil
        reportedUnavailable = false
        guard !stopped else { return }
        if previous != nil { counters.renewals &+= 1 }
        let text = mappings.map { "\($0.transport.rawValue) \($0.internalPort)->\($0.externalPort)" }.joined(separator: ", ")
        if previous?.method != method || previous?.mappings.map(\.externalPort) != mappings.map(\.externalPort)
            || previous?.externalAddress != external
        {
            logger.info(
                "port mapped on the home router",
                metadata: [
                    "method": "\(method.rawValue)", "gateway": "\(gateway)", "external": "\(Self.dotted(external))", "ports": "\(text)",
                    "lifetime": "\(shortest ?? 0)",
                ])
        } else {
            logger.debug("port mapping renewed", metadata: ["method": "\(method.rawValue)", "ports": "\(text)"])
        }
        if let renewAt = current?.renewAt { timer = loop.schedule(after: renewAt - loop.now) { [weak self] in self?.begin() } }
        let endpoint = externalUDPEndpoint
        if endpoint != endpointBefore { onExternalEndpointChange?(endpoint) }
    }

    private func failed(natpmp natpmpFailure: PortMappingFailure?, upnp upnpFailure: PortMappingFailure) {
        attempt = .none
        counters.failures &+= 1
        let reason = "NAT-PMP: \(natpmpFailure.map(String.init(describing:)) ?? "not tried"); UPnP-IGD: \(upnpFailure)"
        lastFailure = reason
        guard !stopped else { return }
        if current != nil {
            current = nil
            upnpGateway = nil
            logger.warning("port mapping lost: the gateway no longer renews it; friends reach us as without --map-port", metadata: ["reason": "\(reason)"])
            onExternalEndpointChange?(nil)
        } else if !reportedUnavailable {
            reportedUnavailable = true
            logger.info("port mapping unavailable: no gateway answered; working as without --map-port", metadata: ["reason": "\(reason)"])
        } else {
            logger.debug("port mapping still unavailable", metadata: ["reason": "\(reason)"])
        }
        timer = loop.schedule(after: Self.retryInterval) { [weak self] in self?.begin() }
    }

    /// At exit (the loop stopped): lets a UPnP request in flight finish (bounded), then
    /// deletes what is mapped, waiting for the gateway's answers at most a few seconds.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        if case .upnp = attempt, let worker, !worker.finish(timeout: .seconds(4)) {
            logger.warning("port mapping: a UPnP request still runs at exit; what it maps expires with its lease")
        }
        worker?.close()
        var removed = 0
        var wanted = 0
        if case .natpmp(_, let external, _) = attempt, external != nil, current?.method != .natpmp, let natpmp {
            // The gateway answered and we may be mapped half-way: delete what this attempt may
            // have made (a silent gateway is not waited for at exit).
            wanted += requests.count
            removed += natpmp.deleteBlocking(requests, within: .seconds(2))
        }
        if let current {
            wanted += current.mappings.count
            switch current.method {
            case .natpmp:
                removed += natpmp?.deleteBlocking(current.mappings.map { ($0.transport, $0.internalPort) }, within: .seconds(2)) ?? 0
            case .upnp:
                if let gateway = upnpGateway {
                    for mapping in current.mappings {
                        if let failure = gateway.delete(mapping.transport, externalPort: mapping.externalPort) {
                            logger.warning("port mapping not removed", metadata: ["error": "\(failure)"])
                        } else {
                            removed += 1
                        }
                    }
                }
            }
        }
        attempt = .none
        natpmp?.close()
        counters.removed &+= UInt64(removed)
        if wanted > 0 {
            logger.info("port mappings removed", metadata: ["removed": "\(removed)", "of": "\(wanted)"])
        }
        current = nil
    }

    static func dotted(_ address: [UInt8]) -> String {
        address.isEmpty ? "-" : address.map(String.init).joined(separator: ".")
    }

    /// Lines for `nat/print`.
    public func statusLines(now: Instant) -> [String] {
        var lines: [String] = []
        if let current {
            let renew = current.renewAt.map { "renew-in \(max(0, ($0 - now).wholeSeconds))" } ?? "renew-in -"
            lines.append(
                "port-mapping mapped method \(current.method.rawValue) gateway \(current.gateway) external \(Self.dotted(current.externalAddress)) \(renew)")
            for mapping in current.mappings {
                lines.append(" \(mapping.transport.rawValue) \(mapping.internalPort) -> \(mapping.externalPort) lifetime \(mapping.lifetime)")
            }
        } else {
            let state =
                switch attempt {
                case .none: stopped ? "stopped" : "unavailable"
                case .natpmp: "asking nat-pmp"
                case .upnp: "asking upnp-igd"
                }
            lines.append("port-mapping \(state)")
        }
        let counters = counters
        lines.append(
            "port-mapping attempts \(counters.attempts) renewals \(counters.renewals) failures \(counters.failures)"
                + " nat-pmp-requests \(natpmp?.requests ?? counters.natpmpRequests) nat-pmp-strays \(natpmp?.strays ?? 0) upnp-attempts \(counters.upnpAttempts) removed \(counters.removed)")
        lines.append("port-mapping last-error \(lastFailure ?? "-")")
        return lines
    }
}
