#include "libpatch/elf/mapped_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace xpatch {

const char* kind_name(Error::Kind k) noexcept {
  switch (k) {
    case Error::Kind::Io: return "io";
    case Error::Kind::NotElf: return "not-elf";
    case Error::Kind::Malformed: return "malformed";
    case Error::Kind::Internal: return "internal";
    case Error::Kind::Unsupported: break;
  }
  return "unsupported";
}

namespace {
Error io_error(const std::string& path, const char* what, int err) {
  return {Error::Kind::Io, path + ": " + what + ": " + std::strerror(err)};
}

}  // namespace

Expected<OpenFile> OpenFile::open(const std::string& path) {
  // stat first: a device, FIFO or socket named on the command line is
  // refused without being opened (opening /dev/watchdog arms it). Then
  // O_NONBLOCK and O_NOCTTY in case it was swapped since, and adopt's fstat
  // confirms what was opened.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return Error{Error::Kind::NotElf, path + ": not a regular file (a FIFO, socket or device)"};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return io_error(path, "cannot open", errno);
  return adopt(fd, path);
}

Expected<OpenFile> OpenFile::adopt(int fd, const std::string& path) {
  OpenFile f(fd, 0);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return io_error(path, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) return Error{Error::Kind::Io, path + ": is a directory"};
  if (!S_ISREG(st.st_mode))
    return Error{Error::Kind::NotElf, path + ": not a regular file (a FIFO, socket or device)"};
  if (st.st_size < SELFMAG)
    return Error{Error::Kind::NotElf, path + (st.st_size == 0 ? ": empty file, not ELF" : ": not an ELF file (too short)")};
  f.size_ = static_cast<std::size_t>(st.st_size);
  f.mode_ = st.st_mode;
  return f;
}

bool OpenFile::has_elf_magic() const noexcept {
  char head[SELFMAG];
  ssize_t n;
  do n = ::pread(fd_, head, SELFMAG, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return true;
  return n == SELFMAG && std::memcmp(head, ELFMAG, SELFMAG) == 0;
}

OpenFile::~OpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<MappedFile> MappedFile::open(const std::string& path) {
  auto f = OpenFile::open(path);
  if (!f) return f.error();
  return map(*f, path);
}

Expected<MappedFile> MappedFile::map(const OpenFile& f, const std::string& path) {
  unsigned char ident[SELFMAG] = {};
  ssize_t got = ::pread(f.fd(), ident, SELFMAG, 0);
  if (got < 0) return io_error(path, "cannot read", errno);
  if (got < SELFMAG || std::memcmp(ident, ELFMAG, SELFMAG) != 0)
    return Error{Error::Kind::NotElf, path + ": not an ELF file (no \\x7fELF magic)"};
  void* p = ::mmap(nullptr, f.size(), PROT_READ, MAP_PRIVATE, f.fd(), 0);
  if (p == MAP_FAILED) return io_error(path, "cannot map", errno);
  return MappedFile(path, static_cast<const std::byte*>(p), f.size());
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    path_ = std::move(o.path_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace xpatch
