// libnatpmp from Debian's libnatpmp-dev (NAT-PMP, RFC 6886); it ships no pkg-config file.
#include <natpmp.h>
