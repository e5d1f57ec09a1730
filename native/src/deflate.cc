// See deflate.h. The scanner follows RFC 1951 (block types, code-length alphabet, length and distance extra bits);
// Huffman codes are decoded with a 10-bit lookup table and a canonical bit-by-bit walk for longer codes.
#include "deflate.h"

#include <cmath>
#include <cstring>

#ifdef KILN_LIBDEFLATE
#include <libdeflate.h>
#endif

namespace kiln {
namespace {

constexpr int kMaxBits = 15;
constexpr int kFastBits = 10;

class Bits {
 public:
  Bits(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  // Makes at least 32 bits available (zeros past the end; overrun() then tells).
  void refill() {
    while (count_ <= 56) {
      uint64_t b = i_ < n_ ? p_[i_] : 0;
      buf_ |= b << count_;
      i_++;
      count_ += 8;
    }
  }
  uint32_t peek(int k) {
    if (count_ < k) refill();
    return static_cast<uint32_t>(buf_ & ((uint64_t{1} << k) - 1));
  }
  void drop(int k) {
    buf_ >>= k;
    count_ -= k;
  }
  uint32_t take(int k) {
    uint32_t v = peek(k);
    drop(k);
    return v;
  }
  size_t pos() const { return i_ * 8 - count_; }
  void alignToByte() { drop(static_cast<int>(count_ % 8)); }
  // Skips `bytes` whole bytes (the reader is byte-aligned).
  bool skipBytes(size_t bytes) {
    size_t at = pos() / 8 + bytes;
    if (at > n_) return false;
    i_ = at;
    buf_ = 0;
    count_ = 0;
    return true;
  }
  bool overrun() const { return pos() > n_ * 8; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t i_ = 0;
  uint64_t buf_ = 0;
  int count_ = 0;
};

// A canonical Huffman code: a fast table for codes up to kFastBits, counts/symbols for the rest.
class Huffman {
 public:
  // False when the lengths over-subscribe the code (an incomplete code is allowed, as zlib allows).
  bool build(const uint8_t* lengths, int n) {
    std::memset(count_, 0, sizeof count_);
    for (int i = 0; i < n; i++) count_[lengths[i]]++;
    count_[0] = 0;
    int left = 1;
    for (int len = 1; len <= kMaxBits; len++) {
      left <<= 1;
      left -= count_[len];
      if (left < 0) return false;
    }
    int offs[kMaxBits + 2];
    offs[1] = 0;
    for (int len = 1; len <= kMaxBits; len++) offs[len + 1] = offs[len] + count_[len];
    for (int i = 0; i < n; i++) {
      if (lengths[i]) symbol_[offs[lengths[i]]++] = static_cast<uint16_t>(i);
    }
    std::memset(fast_, 0, sizeof fast_);
    // Canonical codes in order; each short code fills every table slot whose low bits are its reversed code.
    uint32_t code = 0;
    int k = 0;
    for (int len = 1; len <= kMaxBits; len++) {
      for (int j = 0; j < count_[len]; j++, k++, code++) {
        if (len > kFastBits) continue;
        uint32_t rev = 0;
        for (int b = 0; b < len; b++) rev |= ((code >> b) & 1u) << (len - 1 - b);
        for (uint32_t fill = rev; fill < (1u << kFastBits); fill += (1u << len)) {
          fast_[fill] = static_cast<uint32_t>(symbol_[k]) << 4 | static_cast<uint32_t>(len);
        }
      }
      code <<= 1;
    }
    return true;
  }
  // The next symbol, or -1 for a code that is not in the table.
  int decode(Bits& in) {
    uint32_t e = fast_[in.peek(kFastBits)];
    if (e) {
      in.drop(static_cast<int>(e & 15));
      return static_cast<int>(e >> 4);
    }
    uint32_t bits = in.peek(kMaxBits);
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= kMaxBits; len++) {
      code |= static_cast<int>((bits >> (len - 1)) & 1u);
      int c = count_[len];
      if (code - c < first) {
        in.drop(len);
        return symbol_[index + (code - first)];
      }
      index += c;
      first += c;
      first <<= 1;
      code <<= 1;
    }
    return -1;
  }

 private:
  int count_[kMaxBits + 1];
  uint16_t symbol_[288];
  uint32_t fast_[1u << kFastBits];
};

constexpr uint8_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
constexpr uint8_t kCodeLengthOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

// Decodes the symbols of one Huffman block up to its end-of-block code.
bool skipSymbols(Bits& in, Huffman& lit, Huffman& dist) {
  for (;;) {
    int sym = lit.decode(in);
    if (sym < 0 || in.overrun()) return false;
    if (sym < 256) continue;
    if (sym == 256) return true;
    if (sym > 285) return false;
    in.take(kLenExtra[sym - 257]);
    int d = dist.decode(in);
    if (d < 0 || d > 29) return false;
    in.take(kDistExtra[d]);
  }
}

bool dynamicTables(Bits& in, Huffman& lit, Huffman& dist) {
  int hlit = static_cast<int>(in.take(5)) + 257;
  int hdist = static_cast<int>(in.take(5)) + 1;
  int hclen = static_cast<int>(in.take(4)) + 4;
  if (hlit > 286 || hdist > 30) return false;
  uint8_t cl[19] = {0};
  for (int i = 0; i < hclen; i++) cl[kCodeLengthOrder[i]] = static_cast<uint8_t>(in.take(3));
  Huffman clh;
  if (!clh.build(cl, 19)) return false;
  uint8_t lengths[286 + 30] = {0};
  int n = 0;
  while (n < hlit + hdist) {
    int sym = clh.decode(in);
    if (sym < 0 || in.overrun()) return false;
    if (sym < 16) {
      lengths[n++] = static_cast<uint8_t>(sym);
      continue;
    }
    int rep;
    uint8_t val = 0;
    if (sym == 16) {
      if (n == 0) return false;
      val = lengths[n - 1];
      rep = 3 + static_cast<int>(in.take(2));
    } else if (sym == 17) {
      rep = 3 + static_cast<int>(in.take(3));
    } else {
      rep = 11 + static_cast<int>(in.take(7));
    }
    if (n + rep > hlit + hdist) return false;
    while (rep--) lengths[n++] = val;
  }
  if (lengths[256] == 0) return false;
  return lit.build(lengths, hlit) && dist.build(lengths + hlit, hdist);
}

}  // namespace

DeflateScan deflateScan(const uint8_t* data, size_t n) {
  DeflateScan r;
  Bits in(data, n);
  Huffman lit, dist;
  bool fixedBuilt = false;
  for (;;) {
    size_t header = in.pos();
    uint32_t final = in.take(1);
    uint32_t type = in.take(2);
    if (type == 0) {
      in.alignToByte();
      uint32_t len = in.take(16);
      uint32_t nlen = in.take(16);
      if ((len ^ 0xffffu) != nlen || in.overrun() || !in.skipBytes(len)) return r;
    } else if (type == 1) {
      if (!fixedBuilt) {
        uint8_t l[288];
        for (int i = 0; i < 144; i++) l[i] = 8;
        for (int i = 144; i < 256; i++) l[i] = 9;
        for (int i = 256; i < 280; i++) l[i] = 7;
        for (int i = 280; i < 288; i++) l[i] = 8;
        uint8_t d[30];
        for (int i = 0; i < 30; i++) d[i] = 5;
        lit.build(l, 288);
        dist.build(d, 30);
        fixedBuilt = true;
      }
      if (!skipSymbols(in, lit, dist)) return r;
    } else if (type == 2) {
      fixedBuilt = false;
      if (!dynamicTables(in, lit, dist) || !skipSymbols(in, lit, dist)) return r;
    } else {
      return r;
    }
    if (in.overrun()) return r;
    if (final) {
      r.lastHeaderBit = header;
      r.endBit = in.pos();
      // The stream must be exactly `n` bytes: its end falls in the last byte.
      r.ok = (r.endBit + 7) / 8 == n;
      return r;
    }
  }
}

#ifdef KILN_LIBDEFLATE
namespace {
// Compressors per thread, one per level (libdeflate's compressors are not thread-safe; allocating one costs more
// than compressing a small block).
struct ThreadCompressors {
  libdeflate_compressor* byLevel[13] = {};
  ~ThreadCompressors() {
    for (auto* c : byLevel) {
      if (c) libdeflate_free_compressor(c);
    }
  }
  libdeflate_compressor* get(int level) {
    if (!byLevel[level]) byLevel[level] = libdeflate_alloc_compressor(level);
    return byLevel[level];
  }
};
thread_local ThreadCompressors tlsCompressors;

constexpr size_t kSample = 64 * 1024;

// Whether a block is not worth compressing: its bytes look uniformly random (order-0 entropy above 7.9 bits) and
// two 64 KiB samples of it do not shrink below 97% at level 1 (so repeats within deflate's 32 KiB window, which a
// histogram cannot see, still get compressed). Such blocks (compressed files, random data) are stored: at level 6
// libdeflate spends 1.4x the time of compressible data on them only to store them anyway. Depends only on the
// bytes, so the output stays reproducible.
bool looksIncompressible(const uint8_t* in, size_t n) {
  if (n < 4 * kSample) return false;
  uint32_t h[4][256] = {};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    h[0][in[i]]++;
    h[1][in[i + 1]]++;
    h[2][in[i + 2]]++;
    h[3][in[i + 3]]++;
  }
  for (; i < n; i++) h[0][in[i]]++;
  double bits = 0;
  for (int b = 0; b < 256; b++) {
    double c = h[0][b] + h[1][b] + h[2][b] + h[3][b];
    if (c > 0) bits -= c * std::log2(c / static_cast<double>(n));
  }
  if (bits / static_cast<double>(n) < 7.9) return false;
  libdeflate_compressor* fast = tlsCompressors.get(1);
  if (!fast) return false;
  std::vector<uint8_t> tmp(kSample * 97 / 100);
  for (size_t off : {size_t{0}, n / 2}) {
    if (libdeflate_deflate_compress(fast, in + off, kSample, tmp.data(), tmp.size()) != 0) return false;
  }
  return true;
}
}  // namespace

bool deflateAvailable() { return true; }

uint8_t* deflateBlock(const uint8_t* in, size_t n, int level, uint8_t* into, size_t cap, std::vector<uint8_t>& spill,
                      size_t& len, std::string& error) {
  libdeflate_compressor* c = tlsCompressors.get(level > 0 && looksIncompressible(in, n) ? 0 : level);
  if (!c) {
    error = "libdeflate cannot allocate a compressor for level " + std::to_string(level);
    return nullptr;
  }
  size_t bound = libdeflate_deflate_compress_bound(c, n);
  uint8_t* out = into;
  if (!out || cap < bound + 6) {
    spill.resize(bound + 6);
    out = spill.data();
  }
  len = libdeflate_deflate_compress(c, in, n, out, bound);
  if (len == 0) {
    error = "libdeflate output exceeded its bound";
    return nullptr;
  }
  DeflateScan s = deflateScan(out, len);
  if (!s.ok) {
    error = "libdeflate output is not one deflate stream";
    return nullptr;
  }
  // Non-final: clear the last block's BFINAL bit (the first bit of its header).
  out[s.lastHeaderBit / 8] &= static_cast<uint8_t>(~(1u << (s.lastHeaderBit % 8)));
  // Then an empty stored block, as a sync flush writes it: header bits 000 right after the end, padding to the byte,
  // LEN 0000 and NLEN FFFF.
  size_t bytes = (s.endBit + 7) / 8;
  unsigned used = static_cast<unsigned>(s.endBit % 8);
  if (used) out[bytes - 1] &= static_cast<uint8_t>((1u << used) - 1);  // padding bits are zero
  size_t at = bytes;
  // The 3 header bits fit into the last byte's free bits when 8 - used >= 3; else they need a byte of their own.
  if (used == 0 || used > 5) out[at++] = 0;
  out[at++] = 0;
  out[at++] = 0;
  out[at++] = 0xff;
  out[at++] = 0xff;
  len = at;
  return out;
}
#else
bool deflateAvailable() { return false; }

uint8_t* deflateBlock(const uint8_t*, size_t, int, uint8_t*, size_t, std::vector<uint8_t>&, size_t&,
                      std::string& error) {
  error = "kiln's addon was built without libdeflate";
  return nullptr;
}
#endif

}  // namespace kiln
