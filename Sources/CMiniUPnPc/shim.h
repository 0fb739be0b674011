// miniupnpc from Debian's libminiupnpc-dev (UPnP-IGD client: SSDP discovery, SOAP requests).
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
