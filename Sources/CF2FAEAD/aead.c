#include <string.h>
#include "CF2FAEAD.h"

// BoringSSL's AEAD API (include/openssl/aead.h), as swift-crypto's copy exports it.
typedef struct evp_aead_st EVP_AEAD;
typedef struct evp_aead_ctx_st EVP_AEAD_CTX;
const EVP_AEAD *CCryptoBoringSSL_EVP_aead_chacha20_poly1305(void);
int CCryptoBoringSSL_EVP_AEAD_CTX_init(EVP_AEAD_CTX *ctx, const EVP_AEAD *aead, const uint8_t *key, size_t key_len,
                                       size_t tag_len, void *impl);
void CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(EVP_AEAD_CTX *ctx);
int CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(const EVP_AEAD_CTX *ctx, uint8_t *out, uint8_t *out_tag, size_t *out_tag_len,
                                               size_t max_out_tag_len, const uint8_t *nonce, size_t nonce_len,
                                               const uint8_t *in, size_t in_len, const uint8_t *extra_in,
                                               size_t extra_in_len, const uint8_t *ad, size_t ad_len);
int CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(const EVP_AEAD_CTX *ctx, uint8_t *out, const uint8_t *nonce, size_t nonce_len,
                                              const uint8_t *in, size_t in_len, const uint8_t *in_tag, size_t in_tag_len,
                                              const uint8_t *ad, size_t ad_len);
void CCryptoBoringSSL_ERR_clear_error(void);

// The context lives on the stack for one call, so that nothing allocates and nothing needs
// freeing: BoringSSL's EVP_AEAD_CTX is a pointer, a 560-byte state and a byte, well inside this.
// Setting it up for ChaCha20-Poly1305 copies the key; the cleanup wipes it.
#define CONTEXT_SPACE 1024
#define KEY_COUNT 32
#define NONCE_COUNT 12
#define TAG_COUNT 16

int cf2f_chacha20poly1305_seal(uint8_t *out, const uint8_t *in, size_t count, uint8_t *tag, const uint8_t *ad,
                               size_t ad_count, const uint8_t *nonce, const uint8_t *key) {
    _Alignas(16) uint8_t space[CONTEXT_SPACE];
    EVP_AEAD_CTX *context = (EVP_AEAD_CTX *)space;
    if (!CCryptoBoringSSL_EVP_AEAD_CTX_init(context, CCryptoBoringSSL_EVP_aead_chacha20_poly1305(), key, KEY_COUNT, TAG_COUNT, NULL)) return 0;
    size_t tag_count = 0;
    int sealed = CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(context, out, tag, &tag_count, TAG_COUNT, nonce, NONCE_COUNT, in, count,
                                                            NULL, 0, ad, ad_count);
    CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(context);
    return sealed && tag_count == TAG_COUNT;
}

int cf2f_chacha20poly1305_open(uint8_t *text, size_t count, const uint8_t *tag, const uint8_t *ad, size_t ad_count,
                               const uint8_t *nonce, const uint8_t *key) {
    _Alignas(16) uint8_t space[CONTEXT_SPACE];
    EVP_AEAD_CTX *context = (EVP_AEAD_CTX *)space;
    if (!CCryptoBoringSSL_EVP_AEAD_CTX_init(context, CCryptoBoringSSL_EVP_aead_chacha20_poly1305(), key, KEY_COUNT, TAG_COUNT, NULL)) return 0;
    int authentic = CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(context, text, nonce, NONCE_COUNT, text, count, tag, TAG_COUNT, ad, ad_count);
    CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(context);
    if (!authentic) {
        // BoringSSL leaves the unauthenticated plaintext and an entry in its error queue.
        if (count > 0) memset(text, 0, count);
        CCryptoBoringSSL_ERR_clear_error();
    }
    return authentic;
}
