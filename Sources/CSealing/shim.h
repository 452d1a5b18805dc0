// AES-256-GCM, SHA-256 and HMAC-SHA256 from the BoringSSL that swift-crypto builds into this package (its
// CCryptoBoringSSL target, whose functions carry the `CCryptoBoringSSL_` prefix). Declared here
// because swift-crypto does not offer that target as a product; nothing is linked for it that
// the `Crypto` product does not link already. A swift-crypto that renamed them fails the link,
// never silently: the functions are BoringSSL's EVP_AEAD and SHA256, documented in its
// include/openssl/aead.h, sha2.h, digest.h and hmac.h.
//
// Why not swift-crypto's `AES.GCM`: it makes the AEAD context (the key schedule) and three
// `Data` values for every value sealed; a customer's key is used for many values, so its
// context is made once here. Likewise HMAC: the master key's padded states are made once, and
// each customer's key costs the hashing of its own message only.
#include <stddef.h>
#include <stdint.h>

const void *CCryptoBoringSSL_EVP_aead_aes_256_gcm(void);
void *CCryptoBoringSSL_EVP_AEAD_CTX_new(const void *aead, const uint8_t *key, size_t key_len, size_t tag_len);
void CCryptoBoringSSL_EVP_AEAD_CTX_free(void *ctx);
int CCryptoBoringSSL_EVP_AEAD_CTX_seal(const void *ctx, uint8_t *out, size_t *out_len, size_t max_out_len,
                                       const uint8_t *nonce, size_t nonce_len, const uint8_t *in, size_t in_len,
                                       const uint8_t *ad, size_t ad_len);
int CCryptoBoringSSL_EVP_AEAD_CTX_open(const void *ctx, uint8_t *out, size_t *out_len, size_t max_out_len,
                                       const uint8_t *nonce, size_t nonce_len, const uint8_t *in, size_t in_len,
                                       const uint8_t *ad, size_t ad_len);
uint8_t *CCryptoBoringSSL_SHA256(const uint8_t *data, size_t len, uint8_t out[32]);

const void *CCryptoBoringSSL_EVP_sha256(void);
void *CCryptoBoringSSL_HMAC_CTX_new(void);
void CCryptoBoringSSL_HMAC_CTX_free(void *ctx);
int CCryptoBoringSSL_HMAC_Init_ex(void *ctx, const void *key, size_t key_len, const void *md, void *impl);
int CCryptoBoringSSL_HMAC_Update(void *ctx, const uint8_t *data, size_t data_len);
int CCryptoBoringSSL_HMAC_Final(void *ctx, uint8_t *out, unsigned int *out_len);
