#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace kiln {

std::string errnoName(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* n = strerrorname_np(e);
  if (n) return n;
#endif
  return "errno " + std::to_string(e);
}

namespace {

uint8_t typeOf(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 1;
    case S_IFDIR:
      return 2;
    case S_IFLNK:
      return 3;
    case S_IFCHR:
      return 4;
    case S_IFBLK:
      return 5;
    case S_IFIFO:
      return 6;
    case S_IFSOCK:
      return 7;
    default:
      return 1;
  }
}

struct Failure {
  std::string message;
  std::string code;
};

// Reads all xattrs of `abs` (not following symlinks) into the batch. Returns false with `f` set on error.
bool readXattrs(const std::string& abs, Batch& b, Failure& f) {
  std::vector<char> list;
  ssize_t n;
  for (int attempt = 0;; attempt++) {
    n = llistxattr(abs.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP || errno == ENOENT) {
        b.xcount.push_back(0);
        return true;
      }
      break;
    }
    if (n == 0) {
      b.xcount.push_back(0);
      return true;
    }
    list.resize(n);
    n = llistxattr(abs.c_str(), list.data(), list.size());
    if (n >= 0 || errno != ERANGE || attempt > 8) break;
  }
  if (n < 0) {
    f = {"Cannot list xattrs of " + abs + ": " + errnoName(errno), errnoName(errno)};
    return false;
  }
  uint32_t count = 0;
  std::vector<char> val;
  for (ssize_t i = 0; i < n;) {
    const char* name = list.data() + i;
    size_t nl = strlen(name);
    i += nl + 1;
    if (nl == 0) continue;
    ssize_t vl;
    for (int attempt = 0;; attempt++) {
      vl = lgetxattr(abs.c_str(), name, nullptr, 0);
      if (vl < 0) break;
      val.resize(vl);
      if (vl == 0) break;
      vl = lgetxattr(abs.c_str(), name, val.data(), val.size());
      if (vl >= 0 || errno != ERANGE || attempt > 8) break;
    }
    if (vl < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      f = {"Cannot read xattr " + std::string(name) + " of " + abs + ": " + errnoName(errno), errnoName(errno)};
      return false;
    }
    b.xnames.append(name, nl);
    b.xnames.push_back('\0');
    b.xlens.push_back(static_cast<uint32_t>(vl));
    b.xvalues.append(val.data(), vl);
    count++;
  }
  b.xcount.push_back(count);
  return true;
}

struct Walk {
  WalkJob& job;
  std::string base;  // root without trailing slash ("" for "/")
  dev_t rootDev = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> stack;
  std::vector<std::string> roots;  // listing mode: taken first, in order
  size_t nextRoot = 0;
  size_t listedTotal = 0;
  int active = 0;
  bool stop = false;

  explicit Walk(WalkJob& j) : job(j) {}

  std::string absOf(const std::string& rel) const { return rel.empty() ? (base.empty() ? "/" : base) : base + "/" + rel; }

  bool canceled() const { return job.cancel && __atomic_load_n(job.cancel, __ATOMIC_RELAXED) != 0; }

  // Lists one directory into `b`; subdirectories to descend into go to `subdirs`.
  bool listDir(const std::string& rel, Batch& b, std::vector<std::string>& subdirs, Failure& f) {
    std::string absDir = absOf(rel);
    int fd = open(absDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && job.listing && !rel.empty() && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) {
      return true;  // removed or replaced since its parent was listed: nothing in it
    }
    if (fd < 0) {
      f = {"Cannot read directory " + absDir + ": " + errnoName(errno), errnoName(errno)};
      return false;
    }
    DIR* d = fdopendir(fd);
    if (!d) {
      int e = errno;
      close(fd);
      f = {"Cannot read directory " + absDir + ": " + errnoName(e), errnoName(e)};
      return false;
    }
    std::string prefix = rel.empty() ? std::string() : rel + "/";
    bool ok = true;
    std::string relPath;
    for (;;) {
      errno = 0;
      struct dirent* de = readdir(d);
      if (!de) {
        if (errno != 0) {
          f = {"Cannot read directory " + absDir + ": " + errnoName(errno), errnoName(errno)};
          ok = false;
        }
        break;
      }
      const char* name = de->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      relPath.assign(prefix);
      relPath.append(name);
      if (!job.ignore.empty() && job.ignore.count(relPath)) continue;
      struct statx sx;
      if (statx(fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, &sx) != 0) {
        if (errno == ENOENT) continue;  // removed between readdir and statx: it no longer exists
        f = {"Cannot stat " + absDir + "/" + name + ": " + errnoName(errno), errnoName(errno)};
        ok = false;
        break;
      }
      Meta m;
      m.type = typeOf(sx.stx_mode);
      m.mode = sx.stx_mode & 07777;
      m.uid = sx.stx_uid;
      m.gid = sx.stx_gid;
      m.nlink = sx.stx_nlink;
      m.size = static_cast<double>(sx.stx_size);
      m.ino = static_cast<double>(sx.stx_ino);
      dev_t dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
      m.dev = static_cast<double>(dev);
      m.rdev = static_cast<double>(makedev(sx.stx_rdev_major, sx.stx_rdev_minor));
      m.mtimeNs = static_cast<int64_t>(sx.stx_mtime.tv_sec) * 1000000000LL + sx.stx_mtime.tv_nsec;
      m.ctimeNs = static_cast<int64_t>(sx.stx_ctime.tv_sec) * 1000000000LL + sx.stx_ctime.tv_nsec;
      b.meta.push_back(m);
      b.paths.append(relPath);
      b.paths.push_back('\0');
      if (job.readlinks && m.type == 3) {
        char buf[4096];
        ssize_t n = readlinkat(fd, name, buf, sizeof buf);
        if (n < 0) {
          f = {"Cannot read symlink " + absDir + "/" + name + ": " + errnoName(errno), errnoName(errno)};
          ok = false;
          break;
        }
        b.links.append(buf, n);
        b.links.push_back('\0');
      }
      if (job.xattrs && !readXattrs(absOf(relPath), b, f)) {
        ok = false;
        break;
      }
      if (m.type == 2 && (!job.oneFileSystem || dev == rootDev)) subdirs.push_back(relPath);
    }
    closedir(d);
    if (ok && job.listing) sortBatch(b);
    return ok;
  }

  // Orders a batch's entries by name (byte order), keeping each entry's metadata and link target with it.
  static void sortBatch(Batch& b) {
    size_t n = b.meta.size();
    if (n < 2) return;
    std::vector<size_t> off(n), len(n), link(n, SIZE_MAX), linkLen(n, 0);
    for (size_t i = 0, at = 0, la = 0; i < n; i++) {
      size_t end = b.paths.find('\0', at);
      off[i] = at;
      len[i] = end - at;
      at = end + 1;
      if (b.meta[i].type == 3 && la < b.links.size()) {
        size_t le = b.links.find('\0', la);
        link[i] = la;
        linkLen[i] = le - la;
        la = le + 1;
      }
    }
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; i++) order[i] = i;
    const std::string& p = b.paths;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      int c = p.compare(off[x], len[x], p, off[y], len[y]);
      return c < 0;
    });
    bool sorted = true;
    for (size_t i = 0; i < n; i++) {
      if (order[i] != i) {
        sorted = false;
        break;
      }
    }
    if (sorted) return;
    std::string paths, links;
    paths.reserve(b.paths.size());
    links.reserve(b.links.size());
    std::vector<Meta> meta;
    meta.reserve(n);
    for (size_t k = 0; k < n; k++) {
      size_t i = order[k];
      paths.append(p, off[i], len[i]);
      paths.push_back('\0');
      meta.push_back(b.meta[i]);
      if (link[i] != SIZE_MAX) {
        links.append(b.links, link[i], linkLen[i]);
        links.push_back('\0');
      }
    }
    b.paths.swap(paths);
    b.links.swap(links);
    b.meta.swap(meta);
  }

  void worker() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      bool rootsLeft = nextRoot < roots.size();
      bool budgetLeft = !job.listing || listedTotal < job.maxEntries;
      while (!rootsLeft && (stack.empty() || !budgetLeft) && active > 0 && !stop) {
        cv.wait(lk);
        rootsLeft = nextRoot < roots.size();
        budgetLeft = !job.listing || listedTotal < job.maxEntries;
      }
      if (stop || (!rootsLeft && (stack.empty() || !budgetLeft) && active == 0)) {
        cv.notify_all();
        return;
      }
      std::string rel;
      if (rootsLeft) {
        rel = std::move(roots[nextRoot++]);
      } else {
        rel = std::move(stack.back());
        stack.pop_back();
      }
      active++;
      lk.unlock();
      auto b = std::make_unique<Batch>();
      std::vector<std::string> subdirs;
      Failure f;
      bool ok = canceled() ? (f = {"Walk canceled", "ECANCELED"}, false) : listDir(rel, *b, subdirs, f);
      lk.lock();
      active--;
      if (!ok) {
        if (job.error.empty()) {
          job.error = f.message;
          job.errorCode = f.code;
        }
        stop = true;
        cv.notify_all();
        continue;
      }
      if (job.progress && !b->meta.empty()) {
        __atomic_fetch_add(job.progress, static_cast<int32_t>(b->meta.size()), __ATOMIC_RELAXED);
      }
      listedTotal += b->meta.size();
      if (job.listing) {
        b->dir = rel;
        job.batches.push_back(std::move(b));
      } else if (!b->meta.empty()) {
        job.batches.push_back(std::move(b));
      }
      // Push in reverse so the stack pops them in readdir order.
      for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back(std::move(*it));
      if (!subdirs.empty() || active == 0) cv.notify_all();
    }
  }
};

}  // namespace

void runWalk(WalkJob& job) {
  Walk w(job);
  w.base = job.root;
  while (w.base.size() > 1 && w.base.back() == '/') w.base.pop_back();
  if (w.base == "/") w.base.clear();
  std::string rootPath = w.base.empty() ? "/" : w.base;
  struct statx sx;
  if (statx(AT_FDCWD, rootPath.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0) {
    job.error = "Cannot walk " + rootPath + ": " + errnoName(errno);
    job.errorCode = errnoName(errno);
    return;
  }
  if ((sx.stx_mode & S_IFMT) != S_IFDIR) {
    job.error = "Cannot walk " + rootPath + ": not a directory";
    job.errorCode = "ENOTDIR";
    return;
  }
  w.rootDev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  if (job.listing) {
    w.roots = job.roots;
  } else {
    w.stack.push_back("");
  }
  int n = job.threads < 1 ? 1 : (job.threads > 16 ? 16 : job.threads);
  std::vector<std::thread> threads;
  for (int i = 1; i < n; i++) threads.emplace_back([&w] { w.worker(); });
  w.worker();
  for (auto& t : threads) t.join();
}

}  // namespace kiln
