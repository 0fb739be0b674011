import F2FPosix

/// Why a gateway gave us no mapping, in words for the one log line and `nat/print`.
public enum PortMappingFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// No IPv4 default route: no gateway to ask (libnatpmp reads /proc/net/route).
    case noDefaultGateway
    /// The gateway refused NAT-PMP's port (an ICMP port unreachable): it does not speak it.
    case natpmpRefused(gateway: String)
    /// No answer within the tries (NAT-PMP's 250 ms, doubling, cut short at `NATPMPClient.giveUpAfter`).
    case natpmpNoAnswer(gateway: String)
    /// The gateway answered with a result code (2 not authorized, 3 network failure, 4 out of resources…).
    case natpmpRefusedRequest(code: Int32)
    /// libnatpmp failed locally (socket, send), with its return code.
    case natpmpLibrary(code: Int32)
    /// SSDP found no UPnP device within the discovery time.
    case upnpNoDevice
    /// Devices answered, none of them a connected Internet gateway device.
    case upnpNoGateway(found: Int32)
    /// A SOAP request failed: a UPnP error code (718 conflict, 725 only permanent leases…) or
    /// miniupnpc's own negative code.
    case upnpRequest(action: String, code: Int32, text: String)
    /// A thread or descriptor of ours could not be made.
    case system(SystemError)

    public var description: String {
        switch self {
        case .noDefaultGateway: "no IPv4 default gateway"
        case .natpmpRefused(let gateway): "NAT-PMP refused by \(gateway) (port 5351 closed)"
        case .natpmpNoAnswer(let gateway): "no NAT-PMP answer from \(gateway)"
        case .natpmpRefusedRequest(let code): "NAT-PMP result code \(code)"
        case .natpmpLibrary(let code): "libnatpmp error \(code)"
        case .upnpNoDevice: "no UPnP device answered SSDP"
        case .upnpNoGateway(let found): "no connected UPnP Internet gateway (miniupnpc UPNP_GetValidIGD \(found))"
        case .upnpRequest(let action, let code, let text): "UPnP \(action) failed: \(code) \(text)"
        case .system(let error): "\(error)"
        }
    }
}
