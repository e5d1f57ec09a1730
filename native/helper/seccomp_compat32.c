/*
 * The i386 syscall table for kiln-run's seccomp filter on x86_64 (32-bit binaries in images). A translation unit of
 * its own: <asm/unistd_32.h> defines the same __NR_ names as the native table with other numbers.
 */
#include "seccomp.h"

#if defined(__x86_64__)
#include <asm/unistd_32.h>
#include <linux/audit.h>

static const int compat_allowed[] = {
#include "seccomp_allow.h"
};

const struct kiln_abi kiln_compat_abi = {
    AUDIT_ARCH_I386, compat_allowed, sizeof compat_allowed / sizeof compat_allowed[0],
    __NR_socket,     __NR_personality, __NR_clone, __NR_clone3,
};
#else
const struct kiln_abi kiln_compat_abi = {0, NULL, 0, -1, -1, -1, -1};
#endif
