/*
 * sha256.h — SHA-256 (FIPS 180-4), streaming, for verifying downloads against the digests the hub publishes.
 *
 * Owns: the hash state and its hex rendering. Does not: read files (hub/download.c feeds it the bytes it writes).
 * Threads: a sha256_t belongs to one thread at a time; there is no shared state.
 * Written from the FIPS 180-4 definition (no external library) so the hub module needs nothing beyond libcurl.
 */
#ifndef CINDER_HUB_SHA256_H
#define CINDER_HUB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_LEN      64 /* characters, without the NUL */

typedef struct {
    uint32_t h[8];     /* chaining state */
    uint64_t n_bytes;  /* total bytes fed so far */
    uint8_t block[64]; /* pending partial block */
    size_t n_block;    /* bytes used in block, 0..63 */
} sha256_t;

/* Starts a new hash. */
void sha256_init(sha256_t *s);

/* Feeds len bytes (data may be NULL when len is 0). */
void sha256_update(sha256_t *s, const void *data, size_t len);

/* Finishes the hash into out (32 bytes). The state must be re-initialised before reuse. */
void sha256_final(sha256_t *s, uint8_t out[SHA256_DIGEST_BYTES]);

/* Writes the 64 lower-case hex digits of a digest and a NUL into hex (65 bytes). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_BYTES], char hex[SHA256_HEX_LEN + 1]);

#endif
