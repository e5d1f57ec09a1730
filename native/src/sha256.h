// SHA-256 for kiln's addon: OpenSSL's libcrypto (SHA-NI/AVX code paths) loaded with dlopen at run time, so the
// build needs no OpenSSL headers; a portable implementation (FIPS 180-4) when libcrypto is not on the machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  // Writes 32 bytes; the object must not be used afterwards without reset().
  void final(uint8_t out[32]);
  void reset();

 private:
  alignas(16) unsigned char ctx_[256];  // OpenSSL SHA256_CTX (112 bytes) or the portable state
};

// "openssl" or "portable".
const char* sha256Backend();

// The portable implementation on one buffer (tests compare it with OpenSSL).
void sha256Portable(const void* data, size_t len, uint8_t out[32]);

std::string toHex(const uint8_t* p, size_t n);

}  // namespace kiln
