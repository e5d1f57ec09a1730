// kiln's N-API addon: the module's exports. See lib/fs/_addon.ts for the TypeScript view of this interface.
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <cstring>
#include <napi.h>
#include <thread>
#include <vector>

#include "deflate.h"
#include "sha256.h"
#include "walk.h"

namespace kiln {
namespace {

Napi::Error makeError(Napi::Env env, const std::string& message, const std::string& code) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void throwErrno(Napi::Env env, const std::string& what, int e) {
  makeError(env, what + ": " + errnoName(e), errnoName(e)).ThrowAsJavaScriptException();
}

template <typename T>
Napi::Value typedArray(Napi::Env env, napi_typedarray_type kind, const T* data, size_t n) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * sizeof(T));
  if (n) memcpy(ab.Data(), data, n * sizeof(T));
  napi_value out;
  napi_status st = napi_create_typedarray(env, kind, n, ab, 0, &out);
  if (st != napi_ok) return env.Undefined();
  return Napi::Value(env, out);
}

// A typed array of `n` elements over all of `ab`.
Napi::Value typedArrayOver(Napi::Env env, napi_typedarray_type kind, Napi::ArrayBuffer ab, size_t n) {
  napi_value out;
  napi_status st = napi_create_typedarray(env, kind, n, ab, 0, &out);
  if (st != napi_ok) return env.Undefined();
  return Napi::Value(env, out);
}

// Reads the cancel flag (an Int32Array backed by its own ArrayBuffer) and keeps it alive.
const volatile int32_t* cancelFlag(const Napi::Value& v, Napi::ObjectReference& keep) {
  if (!v.IsTypedArray()) return nullptr;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_int32_array || ta.ElementLength() < 1) return nullptr;
  keep = Napi::Persistent(ta.As<Napi::Object>());
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  return reinterpret_cast<const volatile int32_t*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
}

class WalkWorker : public Napi::AsyncWorker {
 public:
  WalkWorker(Napi::Env env, std::unique_ptr<WalkJob> job)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  Napi::ObjectReference cancelRef;

  void Execute() override {
    runWalk(*job_);
    if (!job_->error.empty()) SetError(job_->error);
  }

  void OnOK() override {
    Napi::Env env = Env();
    size_t n = 0, pathBytes = 0, linkBytes = 0, nx = 0, xnameBytes = 0, xvalBytes = 0;
    for (auto& b : job_->batches) {
      n += b->meta.size();
      pathBytes += b->paths.size();
      linkBytes += b->links.size();
      nx += b->xlens.size();
      xnameBytes += b->xnames.size();
      xvalBytes += b->xvalues.size();
    }
    std::string paths, links, xnames;
    paths.reserve(pathBytes);
    links.reserve(linkBytes);
    xnames.reserve(xnameBytes);
    // The columns are written straight into the JavaScript buffers (no intermediate vectors: a walk of a million
    // entries would hold ~60 MB more at its peak).
    Napi::ArrayBuffer abType = Napi::ArrayBuffer::New(env, n * sizeof(uint8_t));
    Napi::ArrayBuffer abMode = Napi::ArrayBuffer::New(env, n * sizeof(uint16_t));
    Napi::ArrayBuffer abUid = Napi::ArrayBuffer::New(env, n * sizeof(uint32_t));
    Napi::ArrayBuffer abGid = Napi::ArrayBuffer::New(env, n * sizeof(uint32_t));
    Napi::ArrayBuffer abNlink = Napi::ArrayBuffer::New(env, n * sizeof(uint32_t));
    Napi::ArrayBuffer abSize = Napi::ArrayBuffer::New(env, n * sizeof(double));
    Napi::ArrayBuffer abIno = Napi::ArrayBuffer::New(env, n * sizeof(double));
    Napi::ArrayBuffer abDev = Napi::ArrayBuffer::New(env, n * sizeof(double));
    Napi::ArrayBuffer abRdev = Napi::ArrayBuffer::New(env, n * sizeof(double));
    Napi::ArrayBuffer abMtime = Napi::ArrayBuffer::New(env, n * sizeof(int64_t));
    Napi::ArrayBuffer abCtime = Napi::ArrayBuffer::New(env, n * sizeof(int64_t));
    auto* type = static_cast<uint8_t*>(abType.Data());
    auto* mode = static_cast<uint16_t*>(abMode.Data());
    auto* uid = static_cast<uint32_t*>(abUid.Data());
    auto* gid = static_cast<uint32_t*>(abGid.Data());
    auto* nlink = static_cast<uint32_t*>(abNlink.Data());
    auto* size = static_cast<double*>(abSize.Data());
    auto* ino = static_cast<double*>(abIno.Data());
    auto* dev = static_cast<double*>(abDev.Data());
    auto* rdev = static_cast<double*>(abRdev.Data());
    auto* mtime = static_cast<int64_t*>(abMtime.Data());
    auto* ctime = static_cast<int64_t*>(abCtime.Data());
    std::vector<uint32_t> xcount, xlens, batchCounts;
    std::string batchDirs;
    if (job_->listing) batchCounts.reserve(job_->batches.size());
    Napi::ArrayBuffer xvals = Napi::ArrayBuffer::New(env, xvalBytes);
    if (job_->xattrs) {
      xcount.reserve(n);
      xlens.reserve(nx);
    }
    size_t i = 0, xo = 0;
    for (auto& b : job_->batches) {
      if (job_->listing) {
        batchDirs += b->dir;
        batchDirs.push_back('\0');
        batchCounts.push_back(static_cast<uint32_t>(b->meta.size()));
      }
      paths += b->paths;
      links += b->links;
      xnames += b->xnames;
      xcount.insert(xcount.end(), b->xcount.begin(), b->xcount.end());
      xlens.insert(xlens.end(), b->xlens.begin(), b->xlens.end());
      if (!b->xvalues.empty()) {
        memcpy(static_cast<uint8_t*>(xvals.Data()) + xo, b->xvalues.data(), b->xvalues.size());
        xo += b->xvalues.size();
      }
      for (const Meta& m : b->meta) {
        type[i] = m.type;
        mode[i] = m.mode;
        uid[i] = m.uid;
        gid[i] = m.gid;
        nlink[i] = m.nlink;
        size[i] = m.size;
        ino[i] = m.ino;
        dev[i] = m.dev;
        rdev[i] = m.rdev;
        mtime[i] = m.mtimeNs;
        ctime[i] = m.ctimeNs;
        i++;
      }
      b.reset();
    }
    job_->batches.clear();
    job_->batches.shrink_to_fit();
    Napi::Object r = Napi::Object::New(env);
    r.Set("count", Napi::Number::New(env, static_cast<double>(n)));
    r.Set("paths", Napi::String::New(env, paths.data(), paths.size()));
    r.Set("type", typedArrayOver(env, napi_uint8_array, abType, n));
    r.Set("mode", typedArrayOver(env, napi_uint16_array, abMode, n));
    r.Set("uid", typedArrayOver(env, napi_uint32_array, abUid, n));
    r.Set("gid", typedArrayOver(env, napi_uint32_array, abGid, n));
    r.Set("size", typedArrayOver(env, napi_float64_array, abSize, n));
    r.Set("mtimeNs", typedArrayOver(env, napi_bigint64_array, abMtime, n));
    r.Set("ctimeNs", typedArrayOver(env, napi_bigint64_array, abCtime, n));
    r.Set("ino", typedArrayOver(env, napi_float64_array, abIno, n));
    r.Set("dev", typedArrayOver(env, napi_float64_array, abDev, n));
    r.Set("nlink", typedArrayOver(env, napi_uint32_array, abNlink, n));
    r.Set("rdev", typedArrayOver(env, napi_float64_array, abRdev, n));
    if (job_->readlinks) r.Set("links", Napi::String::New(env, links.data(), links.size()));
    if (job_->listing) {
      r.Set("batchDirs", Napi::String::New(env, batchDirs.data(), batchDirs.size()));
      r.Set("batchCounts", typedArray(env, napi_uint32_array, batchCounts.data(), batchCounts.size()));
    }
    if (job_->xattrs) {
      r.Set("xattrCount", typedArray(env, napi_uint32_array, xcount.data(), xcount.size()));
      r.Set("xattrNames", Napi::String::New(env, xnames.data(), xnames.size()));
      r.Set("xattrLens", typedArray(env, napi_uint32_array, xlens.data(), xlens.size()));
      napi_value u8;
      napi_create_typedarray(env, napi_uint8_array, xvalBytes, xvals, 0, &u8);
      r.Set("xattrValues", Napi::Value(env, u8));
    }
    // The walk's per-directory batches were allocated by its threads and are free now: give that memory back to
    // the system (glibc keeps freed memory of thread arenas otherwise, and a big walk's RSS would stay high).
    {
      std::string().swap(paths);
      std::string().swap(links);
      std::string().swap(xnames);
    }
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(makeError(Env(), job_->error, job_->errorCode).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<WalkJob> job_;
};

// walk(root, {ignore, readlinks, xattrs, oneFileSystem, threads, cancel, roots?, maxEntries?}) → Promise<columns>;
// cancel is an Int32Array: [0] set to cancel, [1] (when present) counts the entries listed so far. With `roots` the
// walk lists those directories and more below them up to `maxEntries`, each in a batch of its own, sorted by name
// (`batchDirs`, `batchCounts`).
Napi::Value Walk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    Napi::TypeError::New(env, "walk(root, options) expects a string and an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto job = std::make_unique<WalkJob>();
  job->root = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info[1].As<Napi::Object>();
  Napi::Value ig = o.Get("ignore");
  if (ig.IsArray()) {
    Napi::Array a = ig.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (v.IsString()) job->ignore.insert(v.As<Napi::String>().Utf8Value());
    }
  }
  job->readlinks = o.Get("readlinks").ToBoolean();
  job->xattrs = o.Get("xattrs").ToBoolean();
  job->oneFileSystem = o.Get("oneFileSystem").ToBoolean();
  Napi::Value th = o.Get("threads");
  if (th.IsNumber()) job->threads = th.As<Napi::Number>().Int32Value();
  Napi::Value roots = o.Get("roots");
  if (roots.IsArray()) {
    if (job->xattrs) {
      Napi::TypeError::New(env, "walk: roots and xattrs cannot be combined").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job->listing = true;
    Napi::Array a = roots.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (v.IsString()) job->roots.push_back(v.As<Napi::String>().Utf8Value());
    }
    Napi::Value me = o.Get("maxEntries");
    if (me.IsNumber()) job->maxEntries = static_cast<size_t>(me.As<Napi::Number>().Int64Value());
  }
  Napi::ObjectReference keep;
  job->cancel = cancelFlag(o.Get("cancel"), keep);
  {
    // [cancel, progress]: a second element receives the number of entries listed so far.
    Napi::Value c = o.Get("cancel");
    if (job->cancel && c.As<Napi::TypedArray>().ElementLength() >= 2) {
      job->progress = const_cast<volatile int32_t*>(job->cancel) + 1;
    }
  }
  auto* w = new WalkWorker(env, std::move(job));
  w->cancelRef = std::move(keep);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

class HashWorker : public Napi::AsyncWorker {
 public:
  HashWorker(Napi::Env env, std::vector<std::string> paths, int threads, const volatile int32_t* cancel)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        paths_(std::move(paths)),
        threads_(threads),
        cancel_(cancel),
        out_(paths_.size()) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  Napi::ObjectReference cancelRef;

  void Execute() override {
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex mu;
    auto work = [&] {
      std::vector<uint8_t> buf(1 << 20);
      Sha256 h;
      for (;;) {
        size_t i = next.fetch_add(1);
        if (i >= paths_.size() || stop.load()) return;
        if (cancel_ && __atomic_load_n(cancel_, __ATOMIC_RELAXED) != 0) {
          fail(mu, stop, "Hashing canceled", "ECANCELED");
          return;
        }
        const std::string& p = paths_[i];
        int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          fail(mu, stop, "Cannot hash " + p + ": " + errnoName(errno), errnoName(errno));
          return;
        }
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        h.reset();
        bool ok = true;
        for (;;) {
          ssize_t n = read(fd, buf.data(), buf.size());
          if (n == 0) break;
          if (n < 0) {
            if (errno == EINTR) continue;
            fail(mu, stop, "Cannot hash " + p + ": " + errnoName(errno), errnoName(errno));
            ok = false;
            break;
          }
          h.update(buf.data(), n);
        }
        close(fd);
        if (!ok) return;
        uint8_t d[32];
        h.final(d);
        out_[i] = toHex(d, 32);
      }
    };
    int n = threads_ < 1 ? 1 : (threads_ > 16 ? 16 : threads_);
    if (static_cast<size_t>(n) > paths_.size()) n = static_cast<int>(paths_.size());
    std::vector<std::thread> ts;
    for (int i = 1; i < n; i++) ts.emplace_back(work);
    work();
    for (auto& t : ts) t.join();
    if (!error_.empty()) SetError(error_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array a = Napi::Array::New(env, out_.size());
    for (size_t i = 0; i < out_.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, out_[i]));
    deferred_.Resolve(a);
  }

  void OnError(const Napi::Error&) override { deferred_.Reject(makeError(Env(), error_, code_).Value()); }

 private:
  void fail(std::mutex& mu, std::atomic<bool>& stop, const std::string& msg, const std::string& code) {
    std::lock_guard<std::mutex> g(mu);
    if (error_.empty()) {
      error_ = msg;
      code_ = code;
    }
    stop = true;
  }
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  int threads_;
  const volatile int32_t* cancel_;
  std::vector<std::string> out_;
  std::string error_, code_;
};

// hashFiles(paths, threads, cancel) → Promise<string[]> (hex sha256 per path)
Napi::Value HashFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "hashFiles(paths, threads, cancel) expects an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  paths.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) paths.push_back(a.Get(i).ToString().Utf8Value());
  int threads = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 4;
  Napi::ObjectReference keep;
  const volatile int32_t* cancel = info.Length() > 2 ? cancelFlag(info[2], keep) : nullptr;
  auto* w = new HashWorker(env, std::move(paths), threads, cancel);
  w->cancelRef = std::move(keep);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

bool argStrings(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  for (size_t i = 0; i < n; i++) {
    if (info.Length() <= i || !info[i].IsString()) {
      Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

Napi::Value Uint8(Napi::Env env, const char* data, size_t n) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
  if (n) memcpy(ab.Data(), data, n);
  return Napi::Uint8Array::New(env, n, ab, 0);
}

// lgetxattr(path, name) → Uint8Array | undefined
Napi::Value LGetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!argStrings(info, 2, "lgetxattr(path, name)")) return env.Undefined();
  std::string path = info[0].As<Napi::String>(), name = info[1].As<Napi::String>();
  std::vector<char> buf;
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) break;
    buf.resize(n);
    if (n == 0) return Uint8(env, nullptr, 0);
    n = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (n >= 0) return Uint8(env, buf.data(), n);
    if (errno != ERANGE) break;
  }
  if (errno == ENODATA) return env.Undefined();
  throwErrno(env, "Cannot read xattr " + name + " of " + path, errno);
  return env.Undefined();
}

// llistxattr(path) → string[]
Napi::Value LListXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!argStrings(info, 1, "llistxattr(path)")) return env.Undefined();
  std::string path = info[0].As<Napi::String>();
  std::vector<char> buf;
  ssize_t n = -1;
  for (int attempt = 0; attempt < 8; attempt++) {
    n = llistxattr(path.c_str(), nullptr, 0);
    if (n <= 0) break;
    buf.resize(n);
    n = llistxattr(path.c_str(), buf.data(), buf.size());
    if (n >= 0 || errno != ERANGE) break;
  }
  Napi::Array out = Napi::Array::New(env);
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    throwErrno(env, "Cannot list xattrs of " + path, errno);
    return env.Undefined();
  }
  uint32_t k = 0;
  for (ssize_t i = 0; i < n;) {
    size_t l = strlen(buf.data() + i);
    if (l) out.Set(k++, Napi::String::New(env, buf.data() + i, l));
    i += l + 1;
  }
  return out;
}

// lsetxattr(path, name, value: Uint8Array)
Napi::Value LSetXattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!argStrings(info, 2, "lsetxattr(path, name, value)")) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "lsetxattr(path, name, value) expects a Uint8Array value").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>(), name = info[1].As<Napi::String>();
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  const char* data = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (lsetxattr(path.c_str(), name.c_str(), data, ta.ByteLength(), 0) != 0) {
    throwErrno(env, "Cannot set xattr " + name + " on " + path, errno);
  }
  return env.Undefined();
}

// mknod(path, mode, dev)
Napi::Value MkNod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!argStrings(info, 1, "mknod(path, mode, dev)")) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "mknod(path, mode, dev) expects numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  mode_t mode = static_cast<mode_t>(info[1].As<Napi::Number>().Int64Value());
  dev_t dev = static_cast<dev_t>(info[2].As<Napi::Number>().Int64Value());
  if (mknod(path.c_str(), mode, dev) != 0) throwErrno(env, "Cannot mknod " + path, errno);
  return env.Undefined();
}

// Copies the bytes of open file `in` to `out` (copy_file_range, else read/write). Returns 0 or an errno.
int copyFd(int in, int out) {
  bool fallback = false;
  double total = 0;
  for (;;) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (total == 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        fallback = true;
        break;
      }
      return errno;
    }
    total += n;
  }
  if (!fallback) return 0;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (ssize_t o = 0; o < n;) {
      ssize_t w = write(out, buf + o, n - o);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      o += w;
    }
  }
}

struct timespec msToTimespec(double ms) {
  struct timespec t;
  double sec = std::floor(ms / 1000);
  t.tv_sec = static_cast<time_t>(sec);
  long ns = static_cast<long>(std::llround((ms - sec * 1000) * 1e6));
  if (ns >= 1000000000L) {
    t.tv_sec += 1;
    ns -= 1000000000L;
  }
  t.tv_nsec = ns < 0 ? 0 : ns;
  return t;
}

// One file of copyFiles: `dst` is created (O_EXCL, never through a symlink), filled, owned (fchown; EPERM ignored
// when epermOk: a non-root build keeps its own uid), given `mode` after the chown (which clears setuid bits) and the
// times. Returns 0, or an errno with `dst` removed; `xattrs` says whether `src` has any (the caller copies them).
int copyOneFile(const std::string& src, const std::string& dst, mode_t mode, uid_t uid, gid_t gid,
                const struct timespec times[2], bool epermOk, bool& xattrs) {
  xattrs = false;
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) return errno;
  int out = open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) {
    int e = errno;
    close(in);
    return e;
  }
  int err = copyFd(in, out);
  if (!err && fchown(out, uid, gid) != 0 && !(errno == EPERM && epermOk)) err = errno;
  if (!err && fchmod(out, mode) != 0) err = errno;
  if (!err && futimens(out, times) != 0) err = errno;
  if (!err) xattrs = flistxattr(in, nullptr, 0) > 0;  // ENOTSUP and friends: none
  close(in);
  if (close(out) != 0 && !err) err = errno;
  if (err) unlink(dst.c_str());
  return err;
}

// copyFiles(srcs, dsts, meta, epermOk) → Promise<Int32Array>: COPY's per-file work for a batch of regular files on a
// worker thread. srcs and dsts are the paths joined by NUL (one string each: converting one string costs far less
// than an array of them); meta holds 5 numbers per file (mode, uid, gid, atimeMs, mtimeMs); result i is 0 (copied),
// 1 (copied; the source has xattrs) or -errno (failed, nothing left at dst i).
class CopyFilesWorker : public Napi::AsyncWorker {
 public:
  CopyFilesWorker(Napi::Env env, std::vector<std::string> srcs, std::vector<std::string> dsts, std::vector<double> meta,
                  bool epermOk)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        srcs_(std::move(srcs)),
        dsts_(std::move(dsts)),
        meta_(std::move(meta)),
        epermOk_(epermOk),
        results_(srcs_.size()) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    for (size_t i = 0; i < srcs_.size(); i++) {
      const double* m = &meta_[i * 5];
      struct timespec times[2] = {msToTimespec(m[3]), msToTimespec(m[4])};
      bool xattrs = false;
      int e = copyOneFile(srcs_[i], dsts_[i], static_cast<mode_t>(m[0]) & 07777, static_cast<uid_t>(m[1]),
                          static_cast<gid_t>(m[2]), times, epermOk_, xattrs);
      results_[i] = e ? -e : (xattrs ? 1 : 0);
    }
  }
  void OnOK() override { deferred_.Resolve(typedArray(Env(), napi_int32_array, results_.data(), results_.size())); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> srcs_, dsts_;
  std::vector<double> meta_;
  bool epermOk_;
  std::vector<int32_t> results_;
};

Napi::Value CopyFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "copyFiles(srcs, dsts, meta, epermOk)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto split = [](const std::string& joined) {
    std::vector<std::string> out;
    size_t at = 0;
    for (;;) {
      size_t z = joined.find('\0', at);
      out.push_back(joined.substr(at, z == std::string::npos ? std::string::npos : z - at));
      if (z == std::string::npos) return out;
      at = z + 1;
    }
  };
  std::vector<std::string> srcs = split(info[0].As<Napi::String>()), dsts = split(info[1].As<Napi::String>());
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  size_t n = srcs.size();
  if (dsts.size() != n || ta.TypedArrayType() != napi_float64_array || ta.ElementLength() != n * 5) {
    Napi::TypeError::New(env, "copyFiles: srcs, dsts and meta (Float64Array, 5 per file) must match")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double* m = reinterpret_cast<const double*>(static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  std::vector<double> meta(m, m + n * 5);
  auto* w = new CopyFilesWorker(env, std::move(srcs), std::move(dsts), std::move(meta), info[3].ToBoolean().Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// sha256Portable(bytes) → hex, always with the built-in implementation (for tests).
Napi::Value Sha256Portable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "sha256Portable(bytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  uint8_t d[32];
  sha256Portable(static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength(), d);
  return Napi::String::New(env, toHex(d, 32));
}

// deflateBlock(bytes, level, into?) → Promise<Uint8Array>: libdeflate on a worker thread, output non-final and
// byte-aligned (see deflate.h). The result is a view of `into` (a Uint8Array) when the block's bound fits in it, else
// a new array. Neither `bytes` nor `into` may be touched until the promise settles.
class DeflateWorker : public Napi::AsyncWorker {
 public:
  DeflateWorker(Napi::Env env, Napi::TypedArray input, int level, Napi::Value into)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        data_(static_cast<const uint8_t*>(input.ArrayBuffer().Data()) + input.ByteOffset()),
        n_(input.ByteLength()),
        level_(level) {
    keep_ = Napi::Persistent(input.As<Napi::Object>());
    if (into.IsTypedArray() && into.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      Napi::TypedArray t = into.As<Napi::TypedArray>();
      into_ = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
      cap_ = t.ByteLength();
      intoRef_ = Napi::Persistent(t.As<Napi::Object>());
    }
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    out_ = deflateBlock(data_, n_, level_, into_, cap_, spill_, len_, error_);
    if (!out_) SetError(error_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (out_ != into_) {
      deferred_.Resolve(typedArray(env, napi_uint8_array, out_, len_));
      return;
    }
    Napi::TypedArray t = intoRef_.Value().As<Napi::TypedArray>();
    napi_value view;
    if (napi_create_typedarray(env, napi_uint8_array, len_, t.ArrayBuffer(), t.ByteOffset(), &view) != napi_ok) {
      deferred_.Reject(makeError(env, "cannot make the output view", "EDEFLATE").Value());
      return;
    }
    deferred_.Resolve(Napi::Value(env, view));
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(makeError(Env(), error_, "EDEFLATE").Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  Napi::ObjectReference intoRef_;
  const uint8_t* data_;
  size_t n_;
  int level_;
  uint8_t* into_ = nullptr;
  size_t cap_ = 0;
  uint8_t* out_ = nullptr;
  size_t len_ = 0;
  std::vector<uint8_t> spill_;
  std::string error_;
};

Napi::Value DeflateBlockFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "deflateBlock(bytes, level, into?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int level = info[1].As<Napi::Number>().Int32Value();
  if (level < 0 || level > 12) {
    Napi::RangeError::New(env, "deflateBlock: level must be 0-12").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w = new DeflateWorker(env, info[0].As<Napi::TypedArray>(), level, info[2]);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// deflateScan(bytes) → [lastHeaderBit, endBit] of a complete raw deflate stream, or undefined (tests).
Napi::Value DeflateScanFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "deflateScan(bytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  DeflateScan s =
      deflateScan(static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
  if (!s.ok) return env.Undefined();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, static_cast<double>(s.lastHeaderBit)));
  a.Set(1u, Napi::Number::New(env, static_cast<double>(s.endBit)));
  return a;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("walk", Napi::Function::New(env, Walk, "walk"));
  exports.Set("hashFiles", Napi::Function::New(env, HashFiles, "hashFiles"));
  exports.Set("lgetxattr", Napi::Function::New(env, LGetXattr, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New(env, LListXattr, "llistxattr"));
  exports.Set("lsetxattr", Napi::Function::New(env, LSetXattr, "lsetxattr"));
  exports.Set("mknod", Napi::Function::New(env, MkNod, "mknod"));
  exports.Set("copyFiles", Napi::Function::New(env, CopyFiles, "copyFiles"));
  exports.Set("sha256Portable", Napi::Function::New(env, Sha256Portable, "sha256Portable"));
  exports.Set("sha256Backend", Napi::String::New(env, sha256Backend()));
  if (deflateAvailable()) exports.Set("deflateBlock", Napi::Function::New(env, DeflateBlockFn, "deflateBlock"));
  exports.Set("deflateScan", Napi::Function::New(env, DeflateScanFn, "deflateScan"));
  return exports;
}

}  // namespace
}  // namespace kiln

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return kiln::Init(env, exports); }

NODE_API_MODULE(kiln_native, InitModule)
