// Block deflate for kiln's parallel gzip (lib/compress/gzip.ts): one block of input compressed with libdeflate into
// raw deflate that ends non-final and byte-aligned (exactly like zlib's Z_SYNC_FLUSH), so blocks concatenate into
// one deflate stream, closed by the caller's final empty block.
//
// libdeflate compresses ~3× faster than zlib at level 6 but only makes complete streams: its last block is final
// and the stream ends mid-byte. deflateScan() walks the stream's blocks (decoding Huffman symbols, writing nothing)
// to find the last block's header and the bit where the stream ends; deflateBlock() then clears that BFINAL bit and
// appends an empty stored block (3 header bits, padding, 00 00 FF FF). No library exposes those two positions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// Where a complete raw deflate stream's last block header starts and where the stream ends, in bits.
struct DeflateScan {
  bool ok = false;
  size_t lastHeaderBit = 0;
  size_t endBit = 0;
};

// Walks `n` bytes of raw deflate. ok=false when the data is not one complete, valid deflate stream.
DeflateScan deflateScan(const uint8_t* data, size_t n);

// Whether libdeflate was linked in (else deflateBlock always fails).
bool deflateAvailable();

// Compresses `in[0, n)` at `level` (0–12, libdeflate's scale; 6 is gzip -6) as a non-final, byte-aligned run of
// deflate blocks (the caller keeps the stream's CRC-32): into `into` when its `cap` bytes hold the block's bound,
// else into `spill`. Returns where the `len` bytes are (`into` or spill's data), or nullptr with `error` set.
uint8_t* deflateBlock(const uint8_t* in, size_t n, int level, uint8_t* into, size_t cap, std::vector<uint8_t>& spill,
                      size_t& len, std::string& error);

}  // namespace kiln
