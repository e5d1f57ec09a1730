// Rewrites the program interpreter (PT_INTERP) of an x86-64/arm64 ELF executable in place, e.g. to
// /kaniko/lib/ld.so, so the executor image can keep its dynamic loader under /kaniko (the rootfs a build sees
// then holds nothing of the image's). The new path must fit in the old one's segment (NUL padded).
// Usage: node scripts/set-interp.mjs FILE NEW_INTERP
import { closeSync, openSync, readSync, writeSync } from "node:fs";

const [file, interp] = process.argv.slice(2);
if (!file || !interp) {
  console.error("usage: node scripts/set-interp.mjs FILE NEW_INTERP");
  process.exit(2);
}
const fd = openSync(file, "r+");
try {
  const eh = Buffer.alloc(64);
  readSync(fd, eh, 0, 64, 0);
  if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) {
    throw new Error(`${file}: not a 64-bit little-endian ELF`);
  }
  const phoff = Number(eh.readBigUInt64LE(32));
  const phentsize = eh.readUInt16LE(54);
  const phnum = eh.readUInt16LE(56);
  const ph = Buffer.alloc(phentsize * phnum);
  readSync(fd, ph, 0, ph.length, phoff);
  let done = false;
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (ph.readUInt32LE(o) !== 3) continue; // PT_INTERP
    const offset = Number(ph.readBigUInt64LE(o + 8));
    const size = Number(ph.readBigUInt64LE(o + 32));
    const bytes = Buffer.alloc(size);
    const want = Buffer.from(interp + "\0");
    if (want.length > size) {
      throw new Error(`${file}: "${interp}" is longer than the interpreter segment (${size - 1})`);
    }
    want.copy(bytes);
    writeSync(fd, bytes, 0, size, offset);
    done = true;
  }
  if (!done) throw new Error(`${file}: no PT_INTERP (a static executable?)`);
} finally {
  closeSync(fd);
}
