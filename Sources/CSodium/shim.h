// libsodium from Debian's libsodium-dev: ChaCha20-Poly1305 (IETF, RFC 8439) over caller
// buffers, in place, for the UDP path's datagrams (F2FSecure's NoiseDatagramCipher).
#include <sodium.h>
