// ChaCha20-Poly1305 (RFC 8439, IETF) over caller buffers, for the UDP path's
// datagrams (F2FSecure's NoiseDatagramCipher), by BoringSSL's AEAD (AVX2 assembly that
// encrypts and authenticates in one pass), which swift-crypto already links into every
// binary that uses Crypto. swift-crypto keeps BoringSSL's headers to itself, so aead.c
// declares the few functions it calls (BoringSSL's public API, with swift-crypto's symbol
// prefix).
#ifndef CF2FAEAD_H
#define CF2FAEAD_H

#include <stddef.h>
#include <stdint.h>

/* Encrypts `count` bytes of `in` into `out` (the same buffer, or one that does not overlap it)
   and writes the 16-byte tag; 1 on success. */
int cf2f_chacha20poly1305_seal(uint8_t *out, const uint8_t *in, size_t count, uint8_t *tag, const uint8_t *ad,
                               size_t ad_count, const uint8_t *nonce, const uint8_t *key);
/* Checks `tag` and decrypts `text` in place; 1 if authentic, else 0 with `text` zeroed. */
int cf2f_chacha20poly1305_open(uint8_t *text, size_t count, const uint8_t *tag, const uint8_t *ad, size_t ad_count,
                               const uint8_t *nonce, const uint8_t *key);

#endif
