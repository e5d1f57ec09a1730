/*
 * kiln-run: runs one RUN step of a kiln build.
 *
 * Sandbox mode (default): new mount, PID, UTS and IPC namespaces (and a net namespace with --net-none), the
 * mounts asked for on the command line, pivot_root (or chroot) into --root, chdir into --cwd, setgroups/setgid/setuid, exec.
 * Without root it first enters an unprivileged user namespace mapping the caller to uid 0.
 * In-place mode (--in-place): no namespaces and no chroot; new session, chdir, user switch, exec; the caller
 * kills the session's process group when the step ends.
 *
 * Protocol with kiln (lib/sandbox/): the step's environment is this process's environment; setup errors are
 * written as one line to fd 3 (if open) and the exit status is then 125. Otherwise the exit status is the
 * command's (128+N when it was killed by signal N). SIGTERM/SIGINT/SIGHUP to this process kill the whole step.
 *
 * Confinement (unless --insecure, RUN --security=insecure): Docker's default capabilities only (bounding,
 * effective, permitted, inheritable; ambient cleared), a seccomp filter equivalent to Docker's default profile
 * (seccomp.c), Docker's masked and read-only /proc and /sys paths, the rootfs and every bind mount nodev (device
 * nodes in the image or made by a step are unusable; only the minimal /dev works), every fd but 0-2 closed, and
 * this process's argv wiped so a step reading /proc/1/cmdline sees no host path. In in-place mode the same
 * capabilities and filter apply as far as the container lets kiln install them.
 *
 * `kiln-run --set-times PATH ATIME_NS MTIME_NS` restores a path's times with nanosecond precision;
 * `kiln-run --get-times PATH` prints them ("ATIME_NS MTIME_NS").
 * `kiln-run --probe` only checks that the namespaces can be created (exit 0, or 125 and the reason on fd 3).
 *
 * Mount options (target paths are host paths inside --root; kiln resolves and creates them beforehand):
 *   --proc DST   --sys DST   --dev DST   --tmpfs DST   --bind SRC DST   --bind-ro SRC DST
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp.h"

#define MAX_MOUNTS 256
#define MAX_GROUPS 256
#define STATUS_SETUP 125

enum mkind { M_PROC, M_SYS, M_DEV, M_TMPFS, M_BIND, M_BIND_RO };
struct mnt {
  enum mkind kind;
  const char *src;
  const char *dst;
};

static struct mnt mounts[MAX_MOUNTS];
static int nmounts;
static const char *root_dir;
static const char *cwd = "/";
static const char *hostname;
static uid_t uid;
static gid_t gid;
static gid_t groups[MAX_GROUPS];
static int ngroups;
static int net_none;
static int in_place;
static int userns;
static int probe;
static int insecure;
static int chrooted;
static volatile pid_t child_pid;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void confine(uint64_t keep, int required);
static void limit_caps(uint64_t keep);
static void fail(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  if (write(3, buf, (size_t)n) < 0) {
    if (write(2, "kiln-run: ", 10) < 0 || write(2, buf, (size_t)n) < 0) _exit(STATUS_SETUP);
  }
  _exit(STATUS_SETUP);
}

static unsigned long parse_num(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v > 0xFFFFFFFEul) fail("invalid %s: %s", what, s);
  return v;
}

static void parse_groups(const char *s) {
  char *copy = strdup(s), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (ngroups >= MAX_GROUPS) fail("too many supplementary groups");
    groups[ngroups++] = (gid_t)parse_num(tok, "group id");
  }
  free(copy);
}

static void add_mount(enum mkind kind, const char *src, const char *dst) {
  if (nmounts >= MAX_MOUNTS) fail("too many mounts");
  if (dst[0] != '/') fail("mount target must be absolute: %s", dst);
  mounts[nmounts++] = (struct mnt){kind, src, dst};
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) != 0) {
    fail("cannot mount %s on %s: %s", type ? type : src, dst, strerror(errno));
  }
}

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct kiln_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/*
 * Adds read-only and/or nodev to the mount at dst and every mount below it (mount_setattr, Linux 5.12), or to
 * dst alone with a bind remount that keeps its other flags (older kernels: locked flags must be kept in a user ns).
 */
static void restrict_mount(const char *dst, int ro, int nodev) {
  struct kiln_mount_attr attr = {(ro ? MOUNT_ATTR_RDONLY : 0) | (nodev ? MOUNT_ATTR_NODEV : 0), 0, 0, 0};
  if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof attr) == 0) return;
  if (errno != ENOSYS && errno != EINVAL) fail("cannot restrict the mount %s: %s", dst, strerror(errno));
  struct statvfs sv;
  if (statvfs(dst, &sv) != 0) fail("cannot inspect the mount %s: %s", dst, strerror(errno));
  unsigned long flags = MS_BIND | MS_REMOUNT | (ro ? MS_RDONLY : 0) | (nodev ? MS_NODEV : 0);
  static const struct { unsigned long st, ms; } keep[] = {
      {ST_RDONLY, MS_RDONLY},     {ST_NOSUID, MS_NOSUID},         {ST_NODEV, MS_NODEV},
      {ST_NOEXEC, MS_NOEXEC},     {ST_NOATIME, MS_NOATIME},       {ST_NODIRATIME, MS_NODIRATIME},
      {ST_RELATIME, MS_RELATIME},
  };
  for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
    if (sv.f_flag & keep[k].st) flags |= keep[k].ms;
  }
  if (mount(NULL, dst, NULL, flags, NULL) != 0) fail("cannot restrict the mount %s: %s", dst, strerror(errno));
}

/* A bind mount for the step: never usable for device nodes, read-only if asked. */
static void bind_mount(const char *src, const char *dst, int ro, int rec) {
  do_mount(src, dst, NULL, MS_BIND | (rec ? MS_REC : 0), NULL);
  restrict_mount(dst, ro, 1);
}

/* A bind mount of one of the host's device nodes into the sandbox's /dev (it must stay usable as a device). */
static void bind_device(const char *src, const char *dst) { do_mount(src, dst, NULL, MS_BIND, NULL); }

static void make_file(const char *path, mode_t mode) {
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) fail("cannot create %s: %s", path, strerror(errno));
  close(fd);
}

static void make_symlink(const char *target, const char *path) {
  if (symlink(target, path) != 0) fail("cannot create %s: %s", path, strerror(errno));
}

/* A minimal /dev: a tmpfs holding bind mounts of the host's device nodes, a private devpts, shm, and links. */
static void setup_dev(const char *dst) {
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  char path[PATH_MAX], host[64];
  /* nodev: a node a step makes in /dev is unusable; the bind-mounted host nodes below keep their own mounts. */
  do_mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=755,size=65536k");
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dst, nodes[i]);
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    make_file(path, 0666);
    bind_device(host, path);
  }
  snprintf(path, sizeof path, "%s/pts", dst);
  if (mkdir(path, 0755) != 0) fail("cannot create %s: %s", path, strerror(errno));
  do_mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  snprintf(path, sizeof path, "%s/ptmx", dst);
  make_symlink("pts/ptmx", path);
  snprintf(path, sizeof path, "%s/shm", dst);
  if (mkdir(path, 01777) != 0) fail("cannot create %s: %s", path, strerror(errno));
  do_mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  snprintf(path, sizeof path, "%s/fd", dst);
  make_symlink("/proc/self/fd", path);
  snprintf(path, sizeof path, "%s/stdin", dst);
  make_symlink("/proc/self/fd/0", path);
  snprintf(path, sizeof path, "%s/stdout", dst);
  make_symlink("/proc/self/fd/1", path);
  snprintf(path, sizeof path, "%s/stderr", dst);
  make_symlink("/proc/self/fd/2", path);
  snprintf(path, sizeof path, "%s/core", dst);
  make_symlink("/proc/kcore", path);
}

/* Hides dst/rel: /dev/null over a file, an empty read-only tmpfs over a directory; absent paths are skipped. */
static void mask_path(const char *dst, const char *rel) {
  char path[PATH_MAX];
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s", dst, rel) >= (int)sizeof path) fail("path too long: %s/%s", dst, rel);
  if (stat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    do_mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555");
  } else {
    do_mount("/dev/null", path, NULL, MS_BIND, NULL);
  }
}

/* Makes dst/rel read-only (a bind onto itself, then read-only); absent paths are skipped. */
static void readonly_path(const char *dst, const char *rel) {
  char path[PATH_MAX];
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s", dst, rel) >= (int)sizeof path) fail("path too long: %s/%s", dst, rel);
  if (stat(path, &st) != 0) return;
  do_mount(path, path, NULL, MS_BIND | MS_REC, NULL);
  restrict_mount(path, 1, 1);
}

/* Docker's masked and read-only paths of /proc. */
static void setup_proc(const char *dst) {
  static const char *const masked[] = {"asound",       "acpi",        "interrupts", "kcore", "keys", "latency_stats",
                                       "timer_list",   "timer_stats", "sched_debug", "scsi"};
  static const char *const readonly[] = {"bus", "fs", "irq", "sys", "sysrq-trigger"};
  do_mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  if (insecure) return;
  for (size_t k = 0; k < sizeof masked / sizeof masked[0]; k++) mask_path(dst, masked[k]);
  for (size_t k = 0; k < sizeof readonly / sizeof readonly[0]; k++) readonly_path(dst, readonly[k]);
}

static void setup_sys(const char *dst) {
  unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount("sysfs", dst, "sysfs", flags, NULL) != 0) {
    /* In a user namespace without a net namespace of its own, sysfs cannot be mounted: show the host's, read-only. */
    bind_mount("/sys", dst, 1, 1);
  }
  if (insecure) return;
  mask_path(dst, "firmware");
  mask_path(dst, "devices/virtual/powercap");
}

/* Creates a missing mount target (and its parents); kiln creates targets in the rootfs itself, so this only
 * happens below mounts the helper made, e.g. /dev/pipes/x in the sandbox's /dev tmpfs. */
static void ensure_target(const char *dst, const char *src) {
  struct stat st;
  if (lstat(dst, &st) == 0) return;
  int is_dir = 1;
  if (src != NULL && stat(src, &st) == 0) is_dir = S_ISDIR(st.st_mode);
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", dst) >= (int)sizeof path) fail("path too long: %s", dst);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("cannot create %s: %s", path, strerror(errno));
    *p = '/';
  }
  if (is_dir) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("cannot create %s: %s", path, strerror(errno));
  } else {
    make_file(path, 0644);
  }
}

static void setup_mounts(void) {
  for (int i = 0; i < nmounts; i++) {
    const struct mnt *m = &mounts[i];
    switch (m->kind) {
    case M_PROC:
      setup_proc(m->dst);
      break;
    case M_SYS:
      setup_sys(m->dst);
      break;
    case M_DEV:
      setup_dev(m->dst);
      break;
    case M_TMPFS:
      ensure_target(m->dst, NULL);
      do_mount("tmpfs", m->dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
      break;
    case M_BIND:
      ensure_target(m->dst, m->src);
      bind_mount(m->src, m->dst, 0, 1);
      break;
    case M_BIND_RO:
      ensure_target(m->dst, m->src);
      bind_mount(m->src, m->dst, 1, 1);
      break;
    }
  }
}

/*
 * Makes the rootfs the process's root: pivot_root (the host's root is then unmounted from this namespace, so
 * not even root in the step can reach it), or chroot where pivot_root is impossible (e.g. / on an initramfs).
 */
static void enter_root(void) {
  if (chdir(root_dir) != 0) fail("cannot change to %s: %s", root_dir, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) != 0) fail("cannot detach the host's root: %s", strerror(errno));
  } else if (chroot(".") != 0) {
    fail("cannot chroot to %s: %s", root_dir, strerror(errno));
  } else {
    chrooted = 1;
  }
  if (chdir("/") != 0) fail("cannot change to / in %s: %s", root_dir, strerror(errno));
}

static void switch_user(void) {
  if (!userns) {
    if (setgroups((size_t)ngroups, groups) != 0) fail("cannot set supplementary groups: %s", strerror(errno));
  } else {
    if (uid != 0 || gid != 0) {
      fail("cannot run as user %u:%u without root: the user namespace maps only root; run kiln as root",
           (unsigned)uid, (unsigned)gid);
    }
    for (int k = 0; k < ngroups; k++) {
      if (groups[k] != gid) fail("cannot set supplementary groups without root (in a user namespace); run kiln as root");
    }
  }
  if (setgid(gid) != 0) fail("cannot switch to group %u: %s", (unsigned)gid, strerror(errno));
  if (setuid(uid) != 0) fail("cannot switch to user %u: %s", (unsigned)uid, strerror(errno));
}

static void exec_command(char **argv) {
  execvp(argv[0], argv);
  int e = errno;
  if (e == ENOENT && strchr(argv[0], '/') == NULL) fail("cannot run \"%s\": executable file not found in $PATH", argv[0]);
  fail("cannot run \"%s\": %s", argv[0], strerror(e));
}

static int status_to_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return STATUS_SETUP;
}

static int lo_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  close(fd);
  return rc;
}

/* PID 1 of the step's PID namespace: start the command, reap orphans, exit with the command's status. */
static int init_main(char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* Not dumpable: a step cannot ptrace PID 1 or read its memory (the child becomes dumpable again at exec). */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (hostname && sethostname(hostname, strlen(hostname)) != 0) fail("cannot set hostname: %s", strerror(errno));
  /* Nothing we mount may propagate back to the host. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("cannot make mounts private: %s", strerror(errno));
  /* The rootfs becomes a mount of its own, so that pivot_root can detach the host's root entirely and so that
   * it can be nodev: device nodes in the image (or made by a step: Docker's capabilities include MKNOD) are
   * unusable; only the minimal /dev below works. */
  if (mount(root_dir, root_dir, NULL, MS_BIND | MS_REC, NULL) != 0) {
    fail("cannot mount the rootfs %s: %s", root_dir, strerror(errno));
  }
  restrict_mount(root_dir, 0, !insecure);
  setup_mounts();
  enter_root();
  if (net_none) {
    /* Bring loopback up with an ioctl: no tools are needed in the image. */
    if (lo_up() != 0) fail("cannot bring up loopback: %s", strerror(errno));
  }
  uint64_t keep = KILN_DEFAULT_CAPS;
  if (chrooted) keep &= ~(1ull << CAP_SYS_CHROOT); /* a chroot can be escaped with CAP_SYS_CHROOT */
  if (!insecure) confine(keep, 1);
  pid_t pid = fork();
  if (pid < 0) fail("cannot fork: %s", strerror(errno));
  if (pid == 0) {
    if (chdir(cwd) != 0) fail("cannot change to working directory %s: %s", cwd, strerror(errno));
    switch_user();
    if (!insecure) limit_caps(keep);
    exec_command(argv);
  }
  close(3);
  /* PID 1 only waits from now on: it keeps no capability a step could borrow. */
  if (!insecure) limit_caps(0);
  for (;;) {
    int status;
    pid_t w = wait(&status);
    if (w < 0) {
      if (errno == EINTR) continue;
      return STATUS_SETUP;
    }
    if (w == pid) return status_to_code(status); /* the kernel kills what is left when PID 1 exits */
  }
}

/* Limits the bounding set to `keep` and installs the seccomp filter; both are inherited by everything forked. */
static void confine(uint64_t keep, int required) {
  int rc = kiln_caps_drop_bounding(keep);
  if (rc != 0 && required) fail("cannot drop capabilities: %s", strerror(-rc));
  /* Installing a filter without no_new_privs needs CAP_SYS_ADMIN (setuid programs in the step keep working). */
  if (!required && !kiln_caps_have_sys_admin()) return;
  rc = kiln_seccomp_install();
  if (rc != 0) fail("cannot install the seccomp filter: %s", strerror(-rc));
}

/* Limits the effective, permitted and inheritable capabilities to `keep` (after the user switch). */
static void limit_caps(uint64_t keep) {
  int rc = kiln_caps_limit(keep);
  if (rc != 0) fail("cannot limit capabilities: %s", strerror(-rc));
}

static void on_signal(int sig) {
  (void)sig;
  if (child_pid > 0) kill(child_pid, SIGKILL);
}

static void write_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open %s: %s", path, strerror(errno));
  size_t n = strlen(content);
  if (write(fd, content, n) != (ssize_t)n) fail("cannot write %s: %s", path, strerror(errno));
  close(fd);
}

static void enter_userns(void) {
  uid_t outer_uid = geteuid();
  gid_t outer_gid = getegid();
  if (unshare(CLONE_NEWUSER) != 0) {
    fail("cannot create a sandbox: kiln is not running as root and an unprivileged user namespace is not allowed "
         "(unshare(CLONE_NEWUSER): %s); run kiln as root, allow user namespaces (sysctl user.max_user_namespaces, "
         "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns), or use in-place mode "
         "inside a container",
         strerror(errno));
  }
  char buf[64];
  write_file("/proc/self/setgroups", "deny");
  snprintf(buf, sizeof buf, "0 %u 1\n", (unsigned)outer_uid);
  write_file("/proc/self/uid_map", buf);
  snprintf(buf, sizeof buf, "0 %u 1\n", (unsigned)outer_gid);
  write_file("/proc/self/gid_map", buf);
  userns = 1;
}

static int in_place_main(char **argv) {
  if (setsid() < 0 && getsid(0) != getpid()) fail("cannot start a new session: %s", strerror(errno));
  if (chdir(cwd) != 0) fail("cannot change to working directory %s: %s", cwd, strerror(errno));
  if (geteuid() == 0) {
    /* As far as the container allows: a container without CAP_SETPCAP or CAP_SYS_ADMIN has its own limits. */
    if (!insecure) confine(KILN_DEFAULT_CAPS, 0);
    switch_user();
    if (!insecure) limit_caps(KILN_DEFAULT_CAPS);
  } else if (uid != geteuid() || gid != getegid()) {
    fail("cannot switch to user %u:%u: kiln is not running as root", (unsigned)uid, (unsigned)gid);
  }
  exec_command(argv);
  return STATUS_SETUP;
}

/* Closes every fd >= lo (close_range, else one by one). */
static void close_fds_from(int lo) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0u) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 1 << 20) max = 1 << 20;
  for (int fd = lo; fd < max; fd++) close(fd);
}

/*
 * Copies argv to the heap and wipes the original: /proc/PID/cmdline reads that memory, and PID 1 of the step's
 * namespace is this process, so a step would otherwise read the host paths kiln passed (rootfs, mount sources).
 */
static char **take_argv(int argc, char **argv) {
  char **copy = calloc((size_t)argc + 1, sizeof *copy);
  if (copy == NULL) fail("out of memory");
  for (int k = 0; k < argc; k++) {
    copy[k] = strdup(argv[k]);
    if (copy[k] == NULL) fail("out of memory");
  }
  char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
  memset(start, 0, (size_t)(end - start));
  return copy;
}

static void usage(void) {
  fail("usage: kiln-run [--in-place] --root DIR [--cwd DIR] [--uid N] [--gid N] [--groups N,N] [--hostname H] "
       "[--net-none] [--insecure] [--proc|--sys|--dev|--tmpfs DST] [--bind|--bind-ro SRC DST] -- COMMAND [ARG...]");
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--get-times") == 0) {
    /* --get-times PATH: print "ATIME_NS MTIME_NS" exactly (Deno's node:fs stats carry milliseconds only). */
    struct stat st;
    if (lstat(argv[2], &st) != 0) fail("cannot stat %s: %s", argv[2], strerror(errno));
    printf("%lld %lld\n", (long long)st.st_atim.tv_sec * 1000000000LL + st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "--set-times") == 0) {
    /* --set-times PATH ATIME_NS MTIME_NS: restore a directory's times exactly (JS cannot: float seconds). */
    struct timespec ts[2];
    for (int k = 0; k < 2; k++) {
      char *end;
      errno = 0;
      long long ns = strtoll(argv[3 + k], &end, 10);
      if (errno || *end != '\0') fail("invalid time: %s", argv[3 + k]);
      ts[k].tv_sec = (time_t)(ns / 1000000000LL);
      ts[k].tv_nsec = (long)(ns % 1000000000LL);
    }
    if (utimensat(AT_FDCWD, argv[2], ts, AT_SYMLINK_NOFOLLOW) != 0) fail("cannot set times of %s: %s", argv[2], strerror(errno));
    return 0;
  }
  /* Deno's child_process announces extra stdio fds in the environment; it is not the step's. */
  unsetenv("DENO_EXTRA_STDIO_FDS");
  /* fd 3 is the status pipe: keep it away from the command; no other inherited fd reaches the step. */
  close_fds_from(4);
  if (fcntl(3, F_GETFD) >= 0) fcntl(3, F_SETFD, FD_CLOEXEC);
  argv = take_argv(argc, argv);
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG(n) \
  if (i + (n) >= argc) usage();
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--in-place") == 0) {
      in_place = 1;
    } else if (strcmp(a, "--probe") == 0) {
      probe = 1;
    } else if (strcmp(a, "--insecure") == 0) {
      insecure = 1;
    } else if (strcmp(a, "--net-none") == 0) {
      net_none = 1;
    } else if (strcmp(a, "--root") == 0) {
      NEED_ARG(1) root_dir = v, i++;
    } else if (strcmp(a, "--cwd") == 0) {
      NEED_ARG(1) cwd = v, i++;
    } else if (strcmp(a, "--hostname") == 0) {
      NEED_ARG(1) hostname = v, i++;
    } else if (strcmp(a, "--uid") == 0) {
      NEED_ARG(1) uid = (uid_t)parse_num(v, "user id"), i++;
    } else if (strcmp(a, "--gid") == 0) {
      NEED_ARG(1) gid = (gid_t)parse_num(v, "group id"), i++;
    } else if (strcmp(a, "--groups") == 0) {
      NEED_ARG(1) parse_groups(v), i++;
    } else if (strcmp(a, "--proc") == 0) {
      NEED_ARG(1) add_mount(M_PROC, NULL, v), i++;
    } else if (strcmp(a, "--sys") == 0) {
      NEED_ARG(1) add_mount(M_SYS, NULL, v), i++;
    } else if (strcmp(a, "--dev") == 0) {
      NEED_ARG(1) add_mount(M_DEV, NULL, v), i++;
    } else if (strcmp(a, "--tmpfs") == 0) {
      NEED_ARG(1) add_mount(M_TMPFS, NULL, v), i++;
    } else if (strcmp(a, "--bind") == 0 || strcmp(a, "--bind-ro") == 0) {
      NEED_ARG(2) add_mount(strcmp(a, "--bind") == 0 ? M_BIND : M_BIND_RO, v, argv[i + 2]), i += 2;
    } else {
      usage();
    }
  }
  if (probe) {
    /* Only check that the namespaces a sandbox needs can be created. */
    if (geteuid() != 0) enter_userns();
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) != 0) {
      fail("cannot create namespaces for the sandbox: %s", strerror(errno));
    }
    return 0;
  }
  if (i >= argc) usage();
  char **cmd = argv + i;
  if (in_place) return in_place_main(cmd);
  if (!root_dir || root_dir[0] != '/') usage();

  /* Die with kiln: if it goes away, so does the whole step. */
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(STATUS_SETUP);

  if (geteuid() != 0) enter_userns();
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | (net_none ? CLONE_NEWNET : 0);
  if (unshare(flags) != 0) fail("cannot create namespaces for the sandbox: %s", strerror(errno));

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  /* The stop signals stay blocked until child_pid is set: one arriving between fork() and that assignment would
   * otherwise find no child to kill, and the step would run to its end. Pending, it is handled at the unblock. */
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  sigprocmask(SIG_BLOCK, &stop, &old);
  pid_t pid = fork();
  if (pid < 0) fail("cannot fork: %s", strerror(errno));
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    _exit(init_main(cmd));
  }
  child_pid = pid;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(3);
  for (;;) {
    int status;
    pid_t w = waitpid(pid, &status, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      return STATUS_SETUP;
    }
    return status_to_code(status);
  }
}
