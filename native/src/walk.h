// Parallel directory walk: a shared stack of directories, N threads each doing open(O_DIRECTORY) + readdir +
// statx(dirfd, name, AT_SYMLINK_NOFOLLOW). Results are kept per directory ("batch") and concatenated in the order
// batches were registered; a directory's children are queued only after its own batch is registered, so every
// directory is listed before its contents.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace kiln {

struct Meta {
  double size, ino, dev, rdev;
  int64_t mtimeNs, ctimeNs;
  uint32_t uid, gid, nlink;
  uint16_t mode;
  uint8_t type;
};

struct Batch {
  std::string dir;    // the listed directory (relative; "" for the root)
  std::string paths;  // NUL-terminated relative paths
  std::vector<Meta> meta;
  std::string links;  // NUL-terminated symlink targets (symlinks only)
  std::vector<uint32_t> xcount;
  std::string xnames;  // NUL-terminated names
  std::vector<uint32_t> xlens;
  std::string xvalues;
};

struct WalkJob {
  std::string root;
  std::unordered_set<std::string> ignore;
  bool readlinks = false;
  bool xattrs = false;
  bool oneFileSystem = false;
  int threads = 2;
  // Listing mode (the snapshotter's): list `roots` (relative directories, all of them) and then directories below
  // them until `maxEntries` entries are listed. Every listed directory gets a batch, an empty one too,
  // entries sorted by name (bytes); a directory that vanished before it was read is an empty batch.
  bool listing = false;
  std::vector<std::string> roots;
  size_t maxEntries = 0;
  const volatile int32_t* cancel = nullptr;
  // Entries listed so far (the cancel array's second element, when it has one): JS polls it for progress.
  volatile int32_t* progress = nullptr;
  // results
  std::vector<std::unique_ptr<Batch>> batches;
  std::string error;      // "" on success
  std::string errorCode;  // errno name, or "ECANCELED"
};

void runWalk(WalkJob& job);

// Name of an errno value ("ENOENT"), or "errno N".
std::string errnoName(int e);

}  // namespace kiln
