#include "sha256.h"

#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <mutex>

namespace kiln {
namespace {

typedef int (*InitFn)(void*);
typedef int (*UpdateFn)(void*, const void*, size_t);
typedef int (*FinalFn)(unsigned char*, void*);

struct OpenSsl {
  InitFn init = nullptr;
  UpdateFn update = nullptr;
  FinalFn final = nullptr;
};

const OpenSsl& openssl() {
  static OpenSsl lib;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* names[] = {"libcrypto.so.3", "libcrypto.so"};
    for (const char* n : names) {
      void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      auto i = reinterpret_cast<InitFn>(dlsym(h, "SHA256_Init"));
      auto u = reinterpret_cast<UpdateFn>(dlsym(h, "SHA256_Update"));
      auto f = reinterpret_cast<FinalFn>(dlsym(h, "SHA256_Final"));
      if (i && u && f) {
        lib.init = i;
        lib.update = u;
        lib.final = f;
        return;
      }
      dlclose(h);
    }
  });
  return lib;
}

// Portable SHA-256 (FIPS 180-4). Constants are derived from the primes as the standard defines them.
struct Constants {
  uint32_t k[64];
  uint32_t h0[8];
};

const Constants& constants() {
  static Constants c;
  static std::once_flag once;
  std::call_once(once, [] {
    int found = 0;
    for (int n = 2; found < 64; n++) {
      bool prime = true;
      for (int d = 2; d * d <= n; d++) {
        if (n % d == 0) {
          prime = false;
          break;
        }
      }
      if (!prime) continue;
      long double cr = cbrtl(static_cast<long double>(n));
      c.k[found] = static_cast<uint32_t>((cr - floorl(cr)) * 4294967296.0L);
      if (found < 8) {
        long double sq = sqrtl(static_cast<long double>(n));
        c.h0[found] = static_cast<uint32_t>((sq - floorl(sq)) * 4294967296.0L);
      }
      found++;
    }
  });
  return c;
}

struct Portable {
  uint32_t h[8];
  uint64_t total;
  uint8_t buf[64];
  size_t used;
};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compress(uint32_t h[8], const uint8_t* p, const uint32_t* k) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++) {
    w[i] = (uint32_t(p[4 * i]) << 24) | (uint32_t(p[4 * i + 1]) << 16) | (uint32_t(p[4 * i + 2]) << 8) | p[4 * i + 3];
  }
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

void portableInit(Portable* s) {
  memcpy(s->h, constants().h0, sizeof s->h);
  s->total = 0;
  s->used = 0;
}

void portableUpdate(Portable* s, const uint8_t* p, size_t len) {
  const uint32_t* k = constants().k;
  s->total += len;
  if (s->used) {
    size_t take = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->buf + s->used, p, take);
    s->used += take;
    p += take;
    len -= take;
    if (s->used < 64) return;
    compress(s->h, s->buf, k);
    s->used = 0;
  }
  while (len >= 64) {
    compress(s->h, p, k);
    p += 64;
    len -= 64;
  }
  memcpy(s->buf, p, len);
  s->used = len;
}

void portableFinal(Portable* s, uint8_t out[32]) {
  uint64_t bits = s->total * 8;
  uint8_t pad[72] = {0x80};
  size_t padLen = (s->used < 56 ? 56 : 120) - s->used;
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = uint8_t(bits >> (56 - 8 * i));
  portableUpdate(s, pad, padLen);
  portableUpdate(s, len, 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = uint8_t(s->h[i] >> 24);
    out[4 * i + 1] = uint8_t(s->h[i] >> 16);
    out[4 * i + 2] = uint8_t(s->h[i] >> 8);
    out[4 * i + 3] = uint8_t(s->h[i]);
  }
}

}  // namespace

static_assert(sizeof(Portable) <= 256, "state too large");

Sha256::Sha256() { reset(); }
Sha256::~Sha256() {}

void Sha256::reset() {
  const OpenSsl& o = openssl();
  if (o.init) {
    o.init(ctx_);
  } else {
    portableInit(reinterpret_cast<Portable*>(ctx_));
  }
}

void Sha256::update(const void* data, size_t len) {
  const OpenSsl& o = openssl();
  if (o.update) {
    o.update(ctx_, data, len);
  } else {
    portableUpdate(reinterpret_cast<Portable*>(ctx_), static_cast<const uint8_t*>(data), len);
  }
}

void Sha256::final(uint8_t out[32]) {
  const OpenSsl& o = openssl();
  if (o.final) {
    o.final(out, ctx_);
  } else {
    portableFinal(reinterpret_cast<Portable*>(ctx_), out);
  }
}

void sha256Portable(const void* data, size_t len, uint8_t out[32]) {
  Portable s;
  portableInit(&s);
  portableUpdate(&s, static_cast<const uint8_t*>(data), len);
  portableFinal(&s, out);
}

const char* sha256Backend() { return openssl().init ? "openssl" : "portable"; }

std::string toHex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

}  // namespace kiln
