/*
 * kiln-run's confinement: a seccomp filter equivalent to Docker's default profile for a container with Docker's
 * default capabilities, and the capability calls that limit a step to those capabilities.
 *
 * The filter (classic BPF, no libseccomp needed):
 *   - the native ABI and the 32-bit compat ABI (i386 on x86_64) each get their table; any other audit arch and
 *     x32 syscall numbers are refused;
 *   - socket: every domain but AF_ALG (38) and AF_VSOCK (40); personality: only 0, 8 (PER_LINUX32 variants),
 *     0x20000, 0x20008 and 0xffffffff (query); clone: only without namespace flags; clone3: ENOSYS so that the C
 *     library falls back to clone, whose flags a filter can read;
 *   - every other allowed syscall is in seccomp_allow.h; everything else fails with EPERM.
 * Allowed numbers are matched as sorted runs [lo, hi], so the program stays a few hundred instructions.
 */
#define _GNU_SOURCE
#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#elif defined(__s390x__)
#define NATIVE_ARCH AUDIT_ARCH_S390X
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH AUDIT_ARCH_PPC64LE
#else
#error "kiln-run: unknown architecture for the seccomp filter"
#endif

#ifndef __NR_socket
#define __NR_socket -1
#endif
#ifndef __NR_clone3
#define __NR_clone3 -1
#endif

static const int native_allowed[] = {
#include "seccomp_allow.h"
};

static const struct kiln_abi native_abi = {
    NATIVE_ARCH, native_allowed, sizeof native_allowed / sizeof native_allowed[0],
    __NR_socket, __NR_personality, __NR_clone, __NR_clone3,
};

/* Namespace flags clone may not have: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
#define CLONE_NS_MASK 0x7E020000u

#define MAX_INSNS 4096
#define RET_ALLOW SECCOMP_RET_ALLOW
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

struct prog {
  struct sock_filter insn[MAX_INSNS];
  unsigned n;
  int overflow;
};

static void emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
  if (p->n >= MAX_INSNS) {
    p->overflow = 1;
    return;
  }
  p->insn[p->n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}

static void stmt(struct prog *p, uint16_t code, uint32_t k) { emit(p, code, 0, 0, k); }

#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4)))
#define ARG_HI(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 4 : 0)))
#define LOAD_NR() stmt(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, nr))

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* The checks of one ABI; the accumulator holds the syscall number on entry. Every path ends in a return. */
static void emit_abi(struct prog *p, const struct kiln_abi *abi) {
  LOAD_NR();
  if (abi->nr_clone3 >= 0) {
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)abi->nr_clone3);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(ENOSYS));
  }
  if (abi->nr_clone >= 0) {
    /* s390 passes the flags second; every architecture kiln builds for passes them first. */
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, (uint32_t)abi->nr_clone);
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, CLONE_NS_MASK);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
    stmt(p, BPF_RET | BPF_K, RET_ALLOW);
  }
  if (abi->nr_socket >= 0) {
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 5, (uint32_t)abi->nr_socket);
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 40); /* AF_VSOCK */
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 38); /* AF_ALG */
    stmt(p, BPF_RET | BPF_K, RET_ALLOW);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
  }
  if (abi->nr_personality >= 0) {
    static const uint32_t ok[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffffu};
    const uint8_t nok = sizeof ok / sizeof ok[0];
    /* jeq nr; ld hi; jne 0 -> deny; ld lo; jeq ok[i] -> allow ...; deny; allow */
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(nok + 5), (uint32_t)abi->nr_personality);
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_HI(0));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(nok + 1), 0);
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    for (uint8_t k = 0; k < nok; k++) emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(nok - k), 0, ok[k]);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
    stmt(p, BPF_RET | BPF_K, RET_ALLOW);
  }
  int *nrs = malloc(sizeof(int) * (abi->nallowed + 1));
  if (nrs == NULL) {
    p->overflow = 1;
    return;
  }
  memcpy(nrs, abi->allowed, sizeof(int) * abi->nallowed);
  qsort(nrs, abi->nallowed, sizeof(int), cmp_int);
  for (size_t i = 0; i < abi->nallowed;) {
    int lo = nrs[i], hi = nrs[i];
    while (i + 1 < abi->nallowed && nrs[i + 1] <= hi + 1) hi = nrs[++i];
    i++;
    if (lo < 0) continue;
    /* nr > hi: on to the next run; lo <= nr <= hi: allow; nr < lo: between runs, deny. */
    emit(p, BPF_JMP | BPF_JGT | BPF_K, 3, 0, (uint32_t)hi);
    emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, (uint32_t)lo);
    stmt(p, BPF_RET | BPF_K, RET_ALLOW);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
  }
  free(nrs);
  stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
}

int kiln_seccomp_install(void) {
  struct prog *p = calloc(1, sizeof *p);
  if (p == NULL) return -ENOMEM;
  stmt(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, arch));
  /* arch == native: fall through to "ja native"; else skip it. */
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, NATIVE_ARCH);
  unsigned ja_native = p->n;
  stmt(p, BPF_JMP | BPF_JA, 0);
  unsigned ja_compat = 0;
  if (kiln_compat_abi.nallowed > 0) {
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, kiln_compat_abi.audit_arch);
    ja_compat = p->n;
    stmt(p, BPF_JMP | BPF_JA, 0);
  }
  stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
  p->insn[ja_native].k = p->n - ja_native - 1;
#if defined(__x86_64__)
  /* x32 syscalls carry this bit and share the x86_64 audit arch: refuse them (none is in the table). */
  LOAD_NR();
  emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000u);
  stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
#endif
  emit_abi(p, &native_abi);
  if (ja_compat != 0) {
    p->insn[ja_compat].k = p->n - ja_compat - 1;
    emit_abi(p, &kiln_compat_abi);
  }
  if (p->overflow) {
    free(p);
    return -E2BIG;
  }
  struct sock_fprog fprog = {(unsigned short)p->n, p->insn};
  int rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
  int e = errno;
  free(p);
  return rc == 0 ? 0 : -e;
}

static int last_cap(void) {
  int last = 40;
  while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) last++;
  while (last > 0 && prctl(PR_CAPBSET_READ, last, 0, 0, 0) < 0) last--;
  return last;
}

int kiln_caps_drop_bounding(uint64_t keep) {
  int last = last_cap();
  for (int cap = 0; cap <= last; cap++) {
    if (keep & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) <= 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return -errno;
  }
  return 0;
}

int kiln_caps_limit(uint64_t keep) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) != 0) return -errno;
  for (int k = 0; k < 2; k++) {
    uint32_t m = (uint32_t)(keep >> (32 * k));
    data[k].effective &= m;
    data[k].permitted &= m;
    data[k].inheritable &= m;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) return -errno;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -errno;
  return 0;
}

int kiln_caps_have_sys_admin(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) != 0) return 0;
  return (data[CAP_SYS_ADMIN / 32].effective >> (CAP_SYS_ADMIN % 32)) & 1;
}
