/**
 * Private: can this machine execute a stage's programs (for RUN)? Yes for its own architecture (and 386 on amd64),
 * or when the kernel has an enabled binfmt_misc handler for that architecture's ELF binaries registered with the
 * `F` flag (the interpreter is opened at registration, so it works inside the build's chroot — what BuildKit relies
 * on with qemu-user-static / tonistiigi/binfmt).
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Platform } from "../image/mod.ts";

export type { Platform };

/** ELF identification of each architecture: e_machine, EI_CLASS (1 = 32-bit, 2 = 64-bit), EI_DATA (1 LE, 2 BE). */
const ELF: Record<string, { machine: number; cls: number; data: number; qemu: string }> = {
  amd64: { machine: 62, cls: 2, data: 1, qemu: "x86_64" },
  "386": { machine: 3, cls: 1, data: 1, qemu: "i386" },
  arm64: { machine: 183, cls: 2, data: 1, qemu: "aarch64" },
  arm: { machine: 40, cls: 1, data: 1, qemu: "arm" },
  ppc64le: { machine: 21, cls: 2, data: 1, qemu: "ppc64le" },
  s390x: { machine: 22, cls: 2, data: 2, qemu: "s390x" },
  riscv64: { machine: 243, cls: 2, data: 1, qemu: "riscv64" },
  mips64le: { machine: 8, cls: 2, data: 1, qemu: "mips64el" },
  loong64: { machine: 258, cls: 2, data: 1, qemu: "loongarch64" },
};

/** A parsed binfmt_misc registration. */
interface Handler {
  name: string;
  enabled: boolean;
  fixBinary: boolean;
  magic: Uint8Array;
  mask?: Uint8Array;
  offset: number;
}

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function readHandlers(dir: string): Handler[] | undefined {
  let names: string[];
  try {
    if (readFileSync(`${dir}/status`, "utf8").trim() !== "enabled") return [];
    names = readdirSync(dir);
  } catch {
    return undefined; // not mounted (or not readable): unknown
  }
  const out: Handler[] = [];
  for (const name of names) {
    if (name === "status" || name === "register") continue;
    let text: string;
    try {
      text = readFileSync(`${dir}/${name}`, "utf8");
    } catch {
      continue;
    }
    const field = (k: string) => new RegExp(`^${k}[: ]\\s*(\\S*)`, "m").exec(text)?.[1];
    const magic = field("magic");
    if (magic === undefined) continue; // extension-matched handlers
    const mask = field("mask");
    out.push({
      name,
      enabled: /^enabled$/m.test(text),
      fixBinary: (field("flags") ?? "").includes("F"),
      magic: hex(magic),
      ...(mask ? { mask: hex(mask) } : {}),
      offset: Number(field("offset") ?? "0"),
    });
  }
  return out;
}

/** True if `h` matches the ELF header of `arch` executables. */
function matchesElf(h: Handler, e: { machine: number; cls: number; data: number }): boolean {
  if (h.offset !== 0 || h.magic.length < 20) return false;
  const header = new Uint8Array(20);
  header.set([0x7f, 0x45, 0x4c, 0x46, e.cls, e.data], 0);
  header.set(e.data === 1 ? [e.machine & 0xff, e.machine >> 8] : [e.machine >> 8, e.machine & 0xff], 18);
  for (const i of [0, 1, 2, 3, 4, 5, 18, 19]) {
    const m = h.mask?.[i] ?? 0xff;
    if ((header[i]! & m) !== (h.magic[i]! & m)) return false;
  }
  return true;
}

/**
 * Whether the binfmt_misc filesystem is mounted (so {@linkcode cannotExecute} can tell). Inside a container it often
 * is not, while the host kernel's handlers still run foreign programs there.
 *
 * @param dir The binfmt_misc directory (default `/proc/sys/fs/binfmt_misc`).
 * @returns True when its `status` file can be read.
 */
export function binfmtMounted(dir = "/proc/sys/fs/binfmt_misc"): boolean {
  try {
    readFileSync(`${dir}/status`, "utf8");
    return true;
  } catch {
    return false;
  }
}

/**
 * Says why `target` programs cannot run here, or `undefined` when they can.
 *
 * @param target The stage's platform (its base image's os/architecture).
 * @param options The host platform; the binfmt_misc directory (default `/proc/sys/fs/binfmt_misc`).
 * @returns A reason for a message, or undefined.
 */
export function cannotExecute(
  target: Platform,
  options: { host: Platform; binfmtDir?: string },
): string | undefined {
  const host = options.host;
  if (target.os !== "" && target.os !== host.os) {
    return `this machine runs ${host.os} programs, not ${target.os} ones`;
  }
  const arch = target.architecture;
  if (arch === "" || arch === host.architecture) return undefined;
  if (arch === "386" && host.architecture === "amd64") return undefined;
  const elf = ELF[arch];
  const hostName = `${host.os}/${host.architecture}`;
  if (!elf) return `this machine is ${hostName} and kiln cannot tell whether it can emulate ${arch}`;
  const dir = options.binfmtDir ?? "/proc/sys/fs/binfmt_misc";
  const handlers = readHandlers(dir);
  if (handlers === undefined) {
    return `this machine is ${hostName} and ${dir} is not mounted, so no emulator for ${arch} can be found`;
  }
  const h = handlers.find((x) => matchesElf(x, elf)) ??
    handlers.find((x) => x.name === `qemu-${elf.qemu}` || x.name === elf.qemu);
  if (!h) {
    return `this machine is ${hostName} and no binfmt_misc handler for ${arch} is registered (e.g. qemu-user-static)`;
  }
  if (!h.enabled) return `this machine is ${hostName} and its binfmt_misc handler ${h.name} for ${arch} is disabled`;
  if (!h.fixBinary) {
    return `this machine is ${hostName} and its binfmt_misc handler ${h.name} for ${arch} lacks the F flag (its interpreter cannot be found inside the build's root)`;
  }
  return undefined;
}
