import CMiniUPnPc

/// A UPnP Internet gateway device found by SSDP, and the SOAP requests we make of it, through
/// miniupnpc. Every call blocks on the network (discovery waits `discoveryTime`, a request up
/// to miniupnpc's socket timeouts), so they run on a `BlockingWorker`'s thread, or at exit.
struct UPnPGateway: Sendable, Equatable {
    static let discoveryTime: Int32 = 2000  // milliseconds
    static let description = "f2f-switch"

    var controlURL: String
    var serviceType: String
    /// Our address on the gateway's LAN, as the gateway's description URL was reached from.
    var lanAddress: String
    var externalAddress: String

    /// SSDP discovery, the first connected IGD, and its external address.
    static func discover() -> Result<UPnPGateway, PortMappingFailure> {
        var error: Int32 = 0
        guard let devices = upnpDiscover(discoveryTime, nil, nil, UPNP_LOCAL_PORT_ANY, 0, 2, &error) else {
            return .failure(.upnpNoDevice)
        }
        defer { freeUPNPDevlist(devices) }
        var urls = UPNPUrls()
        var data = IGDdatas()
        var lan = [CChar](repeating: 0, count: 64)
        let found = UPNP_GetValidIGD(devices, &urls, &data, &lan, Int32(lan.count))
        defer { if found != 0 { FreeUPNPUrls(&urls) } }
        guard found == 1, let control = urls.controlURL else { return .failure(.upnpNoGateway(found: found)) }
        let serviceType = withUnsafeBytes(of: data.first.servicetype) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var gateway = UPnPGateway(
            controlURL: String(cString: control), serviceType: serviceType, lanAddress: Self.text(lan), externalAddress: "")
        var external = [CChar](repeating: 0, count: 40)
        let status = UPNP_GetExternalIPAddress(gateway.controlURL, gateway.serviceType, &external)
        guard status == UPNPCOMMAND_SUCCESS else { return .failure(Self.failure("GetExternalIPAddress", status)) }
        gateway.externalAddress = Self.text(external)
        return .success(gateway)
    }

    /// Maps `externalPort` (else any port the gateway picks, IGDv2's AddAnyPortMapping) to
    /// our `internalPort` for `lease` seconds (0 where the gateway only does permanent ones).
    /// Returns the external port and the lease granted.
    func add(_ transport: PortMappingProtocol, internalPort: UInt16, externalPort: UInt16, lease: UInt32) -> Result<
        (externalPort: UInt16, lease: UInt32), PortMappingFailure
    > {
        let proto = transport.rawValue.uppercased()
        var lease = lease
        var status = UPNP_AddPortMapping(
            controlURL, serviceType, "\(externalPort)", "\(internalPort)", lanAddress, Self.description, proto, nil, "\(lease)")
        if status == 725 {  // OnlyPermanentLeasesSupported: a permanent one, deleted at exit
            lease = 0
            status = UPNP_AddPortMapping(controlURL, serviceType, "\(externalPort)", "\(internalPort)", lanAddress, Self.description, proto, nil, "0")
        }
        if status == UPNPCOMMAND_SUCCESS { return .success((externalPort, lease)) }
        guard status == 718 else { return .failure(Self.failure("AddPortMapping", status)) }  // ConflictInMappingEntry
        var reserved = [CChar](repeating: 0, count: 8)
        let any = UPNP_AddAnyPortMapping(
            controlURL, serviceType, "\(externalPort)", "\(internalPort)", lanAddress, Self.description, proto, nil, "\(lease)", &reserved)
        guard any == UPNPCOMMAND_SUCCESS, let port = UInt16(Self.text(reserved)) else { return .failure(Self.failure("AddAnyPortMapping", any)) }
        return .success((port, lease))
    }

    func delete(_ transport: PortMappingProtocol, externalPort: UInt16) -> PortMappingFailure? {
        let status = UPNP_DeletePortMapping(controlURL, serviceType, "\(externalPort)", transport.rawValue.uppercased(), nil)
        return status == UPNPCOMMAND_SUCCESS ? nil : Self.failure("DeletePortMapping", status)
    }

    private static func failure(_ action: String, _ status: Int32) -> PortMappingFailure {
        .upnpRequest(action: action, code: status, text: strupnperror(status).map { String(cString: $0) } ?? "unknown error")
    }

    private static func text(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
