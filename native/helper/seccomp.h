/*
 * The confinement kiln-run applies to a RUN step before exec: Docker's default capability set and a seccomp
 * filter equivalent to Docker's default profile (see lib/sandbox/README.md, "Confinement").
 */
#ifndef KILN_SECCOMP_H
#define KILN_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

/* Syscall numbers of one ABI: the unconditionally allowed ones plus those with argument rules (-1: absent). */
struct kiln_abi {
  uint32_t audit_arch;
  const int *allowed;
  size_t nallowed;
  int nr_socket, nr_personality, nr_clone, nr_clone3;
};

/* The 32-bit ABI that 64-bit kernels also run (i386 on x86_64); nallowed 0 where there is none. */
extern const struct kiln_abi kiln_compat_abi;

/* Docker's default capabilities as a bit mask (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
 * SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE): 0xa80425fb. */
#define KILN_DEFAULT_CAPS 0xa80425fbull

/* Installs the seccomp filter (the caller must hold CAP_SYS_ADMIN or have set no_new_privs). 0 or -errno. */
int kiln_seccomp_install(void);

/* Drops every capability outside `keep` from the bounding set (needs CAP_SETPCAP). 0 or -errno. */
int kiln_caps_drop_bounding(uint64_t keep);

/* Limits the effective, permitted and inheritable sets to `keep` and clears the ambient set. 0 or -errno. */
int kiln_caps_limit(uint64_t keep);

/* Whether CAP_SYS_ADMIN is in the effective set. */
int kiln_caps_have_sys_admin(void);

#endif
