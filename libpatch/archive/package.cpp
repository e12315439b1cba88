// read_package: a package archive, streamed through libarchive, into a
// resolve::Layer. Phases: open the file and tell the format from its bytes;
// walk the payload's members once, keeping each ELF member's prefix in a
// memfd until plan_keep says which ranges a check reads, capturing those
// still ahead and punching holes in the rest; then, only for members whose
// tables lay behind the stream, read the archive again for just those.
#include "libpatch/archive/package.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include "libpatch/archive/keep.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/paths.h"
#include "libpatch/elf/target.h"

namespace xpatch::archive {
namespace {

using resolve::Layer;
using resolve::LayerEntry;
using resolve::LayerFd;

[[noreturn]] void fail(const std::string& file, std::string_view structure, const std::string& what) {
  throw ErrorException{{Error::Kind::Malformed, fmt::format("{}: {}: {}", file, structure, what)}};
}
[[noreturn]] void fail_io(const std::string& file, const std::string& what) {
  throw ErrorException{{Error::Kind::Io, fmt::format("{}: {}", file, what)}};
}

struct ArchiveFree {
  void operator()(::archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<::archive, ArchiveFree>;

std::string archive_message(::archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

// The package file, read with pread from one descriptor (a second pass
// reads the same file, not whatever the name points to by then).
struct Source {
  int fd = -1;
  std::uint64_t size = 0;
  std::uint64_t pos = 0;
  std::array<char, 1 << 16> buf;
};

la_ssize_t source_read(::archive*, void* data, const void** out) {
  auto* s = static_cast<Source*>(data);
  for (;;) {
    ssize_t r = ::pread(s->fd, s->buf.data(), s->buf.size(), static_cast<off_t>(s->pos));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    s->pos += static_cast<std::uint64_t>(r);
    *out = s->buf.data();
    return r;
  }
}
la_int64_t source_skip(::archive*, void* data, la_int64_t request) {
  auto* s = static_cast<Source*>(data);
  const std::uint64_t n = std::min<std::uint64_t>(static_cast<std::uint64_t>(request), s->size - std::min(s->pos, s->size));
  s->pos += n;
  return static_cast<la_int64_t>(n);
}

// An archive nested in the current member of another (a .deb's data.tar.*),
// streamed from it: nothing is copied out first.
struct Nested {
  ::archive* outer = nullptr;
  std::array<char, 1 << 16> buf;
};
la_ssize_t nested_read(::archive* self, void* data, const void** out) {
  auto* n = static_cast<Nested*>(data);
  la_ssize_t r = archive_read_data(n->outer, n->buf.data(), n->buf.size());
  if (r < 0) {
    archive_set_error(self, EIO, "%s", archive_message(n->outer).c_str());
    return -1;
  }
  *out = n->buf.data();
  return r;
}

ArchivePtr new_reader() {
  ArchivePtr a(archive_read_new());
  if (!a) throw ErrorException{{Error::Kind::Io, "libarchive: out of memory"}};
  return a;
}

// "./usr/lib/x" -> "/usr/lib/x"; "" for the archive's root ("./"); nullopt
// when a component is "..": such a member would land outside the root.
std::optional<std::string> canonical_member(std::string_view raw) {
  for (std::string_view c : paths::split(raw, "/", false))
    if (c == "..") return std::nullopt;
  std::string p = paths::normalize(raw);
  return p == "/" ? std::string() : p;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "Package: name" (a .deb's control) or "pkgname = name" (.PKGINFO of
// pacman and apk): the value of the first line with that key.
std::string field(std::string_view text, std::string_view key, char sep) {
  for (std::string_view line : paths::split(text, "\n", false)) {
    auto at = line.find(sep);
    if (at == std::string_view::npos) continue;
    if (trim(line.substr(0, at)) == key) return std::string(trim(line.substr(at + 1)));
  }
  return {};
}

// The compression a .deb member's name promises, as dpkg-deb picks its
// decompressor by that name.
std::optional<int> filter_for(std::string_view name, std::string_view stem) {
  std::string_view suffix = name.substr(stem.size());
  if (suffix.empty()) return ARCHIVE_FILTER_NONE;
  if (suffix == ".gz") return ARCHIVE_FILTER_GZIP;
  if (suffix == ".xz") return ARCHIVE_FILTER_XZ;
  if (suffix == ".zst") return ARCHIVE_FILTER_ZSTD;
  if (suffix == ".bz2") return ARCHIVE_FILTER_BZIP2;
  if (suffix == ".lzma") return ARCHIVE_FILTER_LZMA;
  return std::nullopt;
}

// RPMTAG_NAME from the main header: lead (96 bytes), signature header
// (padded to 8), main header; each header is magic, counts, index, store.
std::string rpm_name(int fd, std::uint64_t size) {
  auto read_at = [&](std::uint64_t off, void* out, std::size_t len) {
    return off <= size && size - off >= len && ::pread(fd, out, len, static_cast<off_t>(off)) == static_cast<ssize_t>(len);
  };
  auto be32 = [](const unsigned char* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
  };
  std::uint64_t off = 96;
  for (int header = 0; header < 2; ++header) {
    unsigned char h[16];
    if (!read_at(off, h, sizeof h) || h[0] != 0x8e || h[1] != 0xad || h[2] != 0xe8) return {};
    const std::uint64_t nindex = be32(h + 8), hsize = be32(h + 12);
    if (nindex > 100000 || hsize > (64u << 20)) return {};
    const std::uint64_t store = off + 16 + nindex * 16;
    if (header == 1) {
      for (std::uint64_t i = 0; i < nindex; ++i) {
        unsigned char e[16];
        if (!read_at(off + 16 + i * 16, e, sizeof e)) return {};
        if (be32(e) != 1000 || be32(e + 4) != 6) continue;  // RPMTAG_NAME, RPM_STRING_TYPE
        const std::uint64_t at = be32(e + 8);
        if (at >= hsize) return {};
        std::string name(std::min<std::uint64_t>(hsize - at, 256), '\0');
        if (!read_at(store + at, name.data(), name.size())) return {};
        name.resize(std::strlen(name.c_str()));
        return name;
      }
      return {};
    }
    off = (store + hsize + 7) / 8 * 8;
  }
  return {};
}

// One ELF member's bytes while it streams: where it lies in the package's
// memfd, what is known, and what the checker needs.
struct ElfMember {
  std::uint64_t base = 0;  // its byte 0, in the package's memfd
  Known known;
  KeepPlan plan;
  std::uint64_t size = 0;
  bool whole = false;  // keep every byte (a loader's configuration)
  ElfMember(int store, std::uint64_t b, std::uint64_t s) : base(b), known(store, b), size(s) {}
};

class Reader {
 public:
  Reader(const std::string& path, const Limits& limits) : path_(path), limits_(limits) {}

  Layer run(ReadStats* stats) {
    src_.fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (src_.fd < 0) fail_io(path_, fmt::format("cannot open: {}", std::strerror(errno)));
    struct stat st;
    if (::fstat(src_.fd, &st) != 0) fail_io(path_, fmt::format("cannot stat: {}", std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) fail_io(path_, "not a regular file");
    src_.size = static_cast<std::uint64_t>(st.st_size);
    layer_.origin = path_;
    unsigned passes = 0;
    do {
      if (passes == limits_.max_passes) {
        const auto& [ordinal, p] = *pending_.begin();
        std::string missing;
        for (const Range& w : p.m->plan.keep)
          if (!p.m->known.has(w.off, w.len)) missing += fmt::format(" {:#x}+{:#x}", w.off, w.len);
        fail(path_, member_label(layer_.entries[p.entry].path),
             fmt::format("the tables its dynamic section names are still not all read after {} passes (missing:{})",
                         passes, missing));
      }
      walk(passes++);
    } while (!pending_.empty());
    if (stats) {
      stats->passes = passes;
      stats->kept_bytes = kept_total_;
      stats->peak_kept_bytes = peak_kept_;
      stats->elf_members = elf_members_;
    }
    ::close(src_.fd);
    return std::move(layer_);
  }
  ~Reader() {
    if (src_.fd >= 0) ::close(src_.fd);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

 private:
  std::string path_;
  Limits limits_;
  Source src_;
  Layer layer_;
  std::shared_ptr<LayerFd> store_;   // the kept bytes of every member (store())
  std::uint64_t store_end_ = 0;      // where the next member goes in it
  std::string where_;  // the payload being read: "data.tar.xz", "payload"
  std::unordered_map<std::string, std::size_t> index_;  // canonical path -> entry
  struct Pending {
    std::size_t entry;
    std::unique_ptr<ElfMember> m;
  };
  std::map<std::uint64_t, Pending> pending_;  // payload ordinal -> a member to read again
  std::uint64_t members_ = 0, unpacked_ = 0, kept_total_ = 0, peak_kept_ = 0, elf_members_ = 0;

  std::string member_label(std::string_view name) const { return fmt::format("{} member '{}'", where_, name); }

  // One read of the whole archive. Pass 0 builds the layer; later passes
  // only stream the pending members again.
  void walk(unsigned pass) {
    src_.pos = 0;
    ArchivePtr a = new_reader();
    archive_read_support_format_ar(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_cpio(a.get());
    archive_read_support_filter_all(a.get());
    // Alpine's .apk is tar streams (signature, control, data) one after another.
    archive_read_set_format_option(a.get(), "tar", "read_concatenated_archives", "1");
    archive_read_set_callback_data(a.get(), &src_);
    archive_read_set_read_callback(a.get(), source_read);
    archive_read_set_skip_callback(a.get(), source_skip);
    if (archive_read_open1(a.get()) != ARCHIVE_OK)
      fail(path_, "archive", fmt::format("not a package archive (.deb, .pkg.tar.*, .apk, .rpm): {}", archive_message(a.get())));
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_FATAL)
      fail(path_, "archive", fmt::format("not a package archive (.deb, .pkg.tar.*, .apk, .rpm): {}", archive_message(a.get())));
    const int format = archive_format(a.get()) & ARCHIVE_FORMAT_BASE_MASK;
    std::uint64_t ordinal = 0;
    if (format == ARCHIVE_FORMAT_AR) {
      read_deb(a.get(), e, r, pass);
    } else if (format == ARCHIVE_FORMAT_TAR || format == ARCHIVE_FORMAT_CPIO) {
      const bool cpio = format == ARCHIVE_FORMAT_CPIO;
      where_ = cpio ? "rpm payload" : "package";
      if (pass == 0 && cpio) {
        layer_.package = rpm_name(src_.fd, src_.size);
        layer_.manager = resolve::Manager::Rpm;
      }
      // Which manager a .PKGINFO is for: pacman's packages carry .MTREE
      // (and .BUILDINFO), apk's are signed (.SIGN.*).
      bool pacman = false, apk = false, pkginfo = false;
      for (; r != ARCHIVE_EOF; r = archive_read_next_header(a.get(), &e)) {
        check_header(a.get(), r);
        // pacman's and apk's metadata (.PKGINFO, .MTREE, .SIGN.*, ...): a
        // top-level name starting with '.'.
        std::string_view raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
        std::string_view top = paths::strip_trailing_slashes(raw);
        if (!cpio && top.starts_with('.') && top.find('/') == std::string_view::npos && top != ".") {
          if (pass == 0 && top == ".PKGINFO") {
            const std::string text = read_small(a.get(), e, raw);
            layer_.package = field(text, "pkgname", '=');
            layer_.architecture = field(text, "arch", '=');
            pkginfo = true;
            apk = apk || !field(text, "datahash", '=').empty();
          }
          pacman = pacman || top == ".MTREE" || top == ".BUILDINFO";
          apk = apk || top.starts_with(".SIGN.");
          continue;
        }
        member(a.get(), e, ordinal++, pass);
      }
      if (pass == 0 && pkginfo)
        layer_.manager = pacman == apk ? resolve::Manager::Pkginfo : pacman ? resolve::Manager::Pacman : resolve::Manager::Apk;
    } else {
      fail(path_, "archive",
           fmt::format("a {} archive is not a package (.deb, .pkg.tar.*, .apk, .rpm)", archive_format_name(a.get())));
    }
  }

  void check_header(::archive* a, int r) {
    if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY)
      fail(path_, where_.empty() ? "archive" : where_, fmt::format("cannot read the next member: {}", archive_message(a)));
  }

  // ar: debian-binary, control.tar.*, data.tar.*.
  void read_deb(::archive* a, archive_entry* e, int r, unsigned pass) {
    bool data_seen = false;
    for (; r != ARCHIVE_EOF; r = archive_read_next_header(a, &e)) {
      where_ = ".deb";
      check_header(a, r);
      const std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
      const bool control = name.starts_with("control.tar"), data = name.starts_with("data.tar");
      if (!control && !data) continue;
      if ((control && pass > 0) || (data && data_seen)) continue;
      const auto want = filter_for(name, control ? "control.tar" : "data.tar");
      if (!want) fail(path_, fmt::format(".deb member '{}'", name), "an unknown compression (dpkg reads .gz, .xz, .zst, .bz2, .lzma or none)");
      Nested n;
      n.outer = a;
      ArchivePtr in = new_reader();
      archive_read_support_format_tar(in.get());
      archive_read_support_filter_all(in.get());
      where_ = name;
      if (archive_read_open(in.get(), &n, nullptr, nested_read, nullptr) != ARCHIVE_OK)
        fail(path_, fmt::format(".deb member '{}'", name), fmt::format("not a tar archive: {}", archive_message(in.get())));
      archive_entry* ie = nullptr;
      int ir = archive_read_next_header(in.get(), &ie);
      if (ir == ARCHIVE_FATAL)
        fail(path_, fmt::format(".deb member '{}'", name), fmt::format("not a tar archive: {}", archive_message(in.get())));
      const int got = archive_filter_code(in.get(), 0);
      if (got != *want)
        fail(path_, fmt::format(".deb member '{}'", name),
             fmt::format("its data is {}-compressed, not what its name says (dpkg would refuse it)",
                         got == ARCHIVE_FILTER_NONE ? "not" : archive_filter_name(in.get(), 0)));
      std::uint64_t ordinal = 0;
      for (; ir != ARCHIVE_EOF; ir = archive_read_next_header(in.get(), &ie)) {
        check_header(in.get(), ir);
        std::string_view raw = archive_entry_pathname(ie) ? archive_entry_pathname(ie) : "";
        if (control) {
          if (paths::normalize(raw) == "/control") {
            const std::string text = read_small(in.get(), ie, raw);
            layer_.package = field(text, "Package", ':');
            layer_.architecture = field(text, "Architecture", ':');
            layer_.manager = resolve::Manager::Dpkg;
          }
          continue;
        }
        member(in.get(), ie, ordinal++, pass);
      }
      data_seen = data_seen || data;
    }
    if (!data_seen) fail(path_, ".deb", "no data.tar member");
  }

  // A metadata file's text, bounded.
  std::string read_small(::archive* a, archive_entry* e, std::string_view raw) {
    const la_int64_t size = archive_entry_size(e);
    if (size < 0 || static_cast<std::uint64_t>(size) > limits_.max_metadata)
      fail(path_, member_label(raw), fmt::format("{} bytes, more than the {} a metadata file may have", size, limits_.max_metadata));
    std::string text(static_cast<std::size_t>(size), '\0');
    std::size_t done = 0;
    while (done < text.size()) {
      la_ssize_t got = archive_read_data(a, text.data() + done, text.size() - done);
      if (got < 0) fail(path_, member_label(raw), fmt::format("cannot read: {}", archive_message(a)));
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    text.resize(done);
    return text;
  }

  // One payload member: an entry of the layer (pass 0), and its bytes.
  void member(::archive* a, archive_entry* e, std::uint64_t ordinal, unsigned pass) {
    const char* raw_c = archive_entry_pathname(e);
    const std::string raw = raw_c ? raw_c : "";
    if (pass > 0) {
      auto it = pending_.find(ordinal);
      if (it == pending_.end()) return;
      stream(a, raw, *it->second.m);
      if (it->second.m->plan.complete) pending_.erase(it);
      return;
    }
    if (++members_ > limits_.max_members)
      fail(path_, where_, fmt::format("more than {} members", limits_.max_members));
    auto canon = canonical_member(raw);
    if (!canon) fail(path_, member_label(raw), "a path with a '..' component would be installed outside the root");
    if (canon->empty()) return;  // "./": the root itself
    LayerEntry le;
    le.path = *canon;
    le.mode = archive_entry_perm(e);
    const la_int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (declared < 0 || static_cast<std::uint64_t>(declared) > limits_.max_member_size)
      fail(path_, member_label(raw), fmt::format("declares {} bytes, more than the limit of {}", declared, limits_.max_member_size));
    const auto size = static_cast<std::uint64_t>(declared);
    std::uint64_t allowed = 0;
    if (__builtin_mul_overflow(src_.size, limits_.max_expansion, &allowed)) allowed = UINT64_MAX;
    allowed = std::max(limits_.expansion_floor, allowed);
    if (__builtin_add_overflow(unpacked_, size, &unpacked_) || unpacked_ > allowed)
      fail(path_, member_label(raw),
           fmt::format("members declare {} bytes so far from a {}-byte archive, more than {}x (a decompression bomb?)",
                       unpacked_, src_.size, limits_.max_expansion));

    if (const char* hl = archive_entry_hardlink(e)) {
      auto target = canonical_member(hl);
      if (!target) fail(path_, member_label(raw), fmt::format("a hard link to '{}', outside the root", hl));
      auto it = index_.find(*target);
      if (it == index_.end() || layer_.entries[it->second].kind != LayerEntry::Kind::File)
        fail(path_, member_label(raw), fmt::format("a hard link to '{}', which is not a file the archive has shown before", hl));
      if (size > 0) {
        // cpio stores a hard link's data with its last name: it is the data of all of them.
        file(a, raw, le, size, ordinal);
        LayerEntry& first = layer_.entries[it->second];
        first.bytes = le.bytes;
        first.offset = le.offset;
        first.size = le.size;
      } else {
        const LayerEntry& first = layer_.entries[it->second];
        le.bytes = first.bytes;
        le.offset = first.offset;
        le.size = first.size;
      }
      add(std::move(le));
      return;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR: le.kind = LayerEntry::Kind::Dir; break;
      case AE_IFLNK:
        le.kind = LayerEntry::Kind::Symlink;
        le.target = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        break;
      case AE_IFREG: file(a, raw, le, size, ordinal); break;
      default:
        fail(path_, member_label(raw),
             fmt::format("a {} (mode {:#o}): packages install files, directories and links only",
                         archive_entry_filetype(e) == AE_IFIFO ? "FIFO" : archive_entry_filetype(e) == AE_IFSOCK ? "socket" : "device",
                         static_cast<unsigned>(archive_entry_mode(e))));
    }
    add(std::move(le));
  }

  void add(LayerEntry le) {
    index_[le.path] = layer_.entries.size();
    layer_.entries.push_back(std::move(le));
  }

  // A regular file: its size, and for an ELF file the bytes a check reads.
  void file(::archive* a, const std::string& raw, LayerEntry& le, std::uint64_t size, std::uint64_t ordinal) {
    le.kind = LayerEntry::Kind::File;
    le.size = size;
    // The first bytes decide whether it is ELF.
    const std::optional<Block> first = next_block(a, raw);
    if (!first) return;
    // A short first block (or a sparse hole at 0) is not ELF for a check
    // either: the magic must be where the reader looks.
    const bool elf = first->off == 0 && first->len >= 4 && std::memcmp(first->data, "\x7f" "ELF", 4) == 0;
    const bool config = loader_config_file(le.path) && size <= limits_.max_metadata;
    if (!elf && !config) return;
    auto m = std::make_unique<ElfMember>(store(), reserve(raw, size), size);
    le.bytes = store_;
    le.offset = m->base;
    if (!elf) {  // kept whole, read as text by the loader models
      m->whole = true;
      stream(a, raw, *m, *first);
      return;
    }
    ++elf_members_;
    m->whole = limits_.whole_elf;
    stream(a, raw, *m, *first);
    if (!m->plan.complete) pending_.emplace(ordinal, Pending{layer_.entries.size(), std::move(m)});
  }

  // The package's one memfd: every kept member at its own page-aligned
  // offset, the rest holes. One descriptor, however many members.
  int store() {
    if (!store_) {
      int fd = ::memfd_create("xpatch-package", MFD_CLOEXEC);
      if (fd < 0) fail_io(path_, fmt::format("memfd_create: {}", std::strerror(errno)));
      store_ = std::make_shared<LayerFd>(fd);
    }
    return store_->get();
  }
  // Room for a member of `size` bytes in the memfd: its offset there.
  std::uint64_t reserve(const std::string& raw, std::uint64_t size) {
    constexpr std::uint64_t kPage = 4096;
    const std::uint64_t base = store_end_;
    std::uint64_t end = 0;
    if (__builtin_add_overflow(base, size, &end) || __builtin_add_overflow(end, kPage - 1, &end) ||
        end > static_cast<std::uint64_t>(INT64_MAX))
      fail(path_, member_label(raw), fmt::format("the members' sizes add up past what one memfd can hold ({:#x} + {:#x})",
                                                 base, size));
    store_end_ = end / kPage * kPage;
    return base;
  }

  // Files the loader models read whole (resolve/glibc.cpp, musl.cpp):
  // ld.so.conf and what it includes by Debian's convention, and musl's
  // ld-musl-ARCH.path.
  static bool loader_config_file(std::string_view p) {
    return p == "/etc/ld.so.conf" || p.starts_with("/etc/ld.so.conf.d/") ||
           (p.starts_with("/etc/ld-musl-") && p.ends_with(".path"));
  }

  // The ranges to keep: plan_keep's, or all of a member kept whole.
  static void replan(ElfMember& m) {
    if (m.whole) m.plan = KeepPlan{{{0, m.size}}, m.known.has(0, m.size), true};
    else m.plan = plan_keep(m.known, m.size);
  }

  // A glibc loader: the check reads it whole, for the system directories
  // and the cache path compiled into it (resolve/glibc.cpp). Known by
  // having no PT_INTERP and, as its DT_SONAME, its architecture's loader
  // name (read from the kept bytes: the plan is complete).
  bool glibc_loader(const ElfMember& m) const {
    const int fd = resolve::open_layer_file(*store_, m.base, m.size);
    if (fd < 0) fail_io(path_, fmt::format("reading a member back: {}", std::strerror(-fd)));
    auto f = elf::read_elf_fd(fd, "member", {.sections = false});
    if (!f || f->interpreter || !f->soname) return false;
    auto name = elf::loader_name(*f, elf::Libc::Glibc);
    return name && *name == *f->soname;
  }

  struct Block {
    const void* data = nullptr;
    std::size_t len = 0;
    std::uint64_t off = 0;
  };

  // The member's next block of data; none at its end.
  std::optional<Block> next_block(::archive* a, const std::string& raw) {
    const void* buf = nullptr;
    size_t len = 0;
    la_int64_t off = 0;
    const int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF) return std::nullopt;
    if (r < ARCHIVE_OK) fail(path_, member_label(raw), fmt::format("cannot read: {}", archive_message(a)));
    return Block{buf, len, static_cast<std::uint64_t>(off)};
  }

  // Streams the rest of one member: the prefix (first pass only) and every
  // range plan_keep wants are written to the memfd; the plan is made again
  // whenever a range it wanted is complete, so a table named by one found
  // later in the stream is caught on the way.
  void stream(::archive* a, const std::string& raw, ElfMember& m, std::optional<Block> head = std::nullopt) {
    // Every pass holds the prefix again: the tables a later pass finds it
    // needs are mostly there.
    const std::uint64_t prefix = std::min(limits_.prefix, m.size);
    bool planned = false;
    const std::uint64_t kept_before = known_bytes(m.known);
    for (;;) {
      Block b;
      if (head) {
        b = *head;
        head.reset();
      } else if (auto next = next_block(a, raw)) {
        b = *next;
      } else {
        break;
      }
      std::uint64_t end = 0;
      if (__builtin_add_overflow(b.off, b.len, &end) || end > m.size)
        fail(path_, member_label(raw), fmt::format("data at {:#x} + {:#x} past its declared size {:#x}", b.off, b.len, m.size));
      auto capture = [&](std::uint64_t lo, std::uint64_t hi) {
        lo = std::max(lo, b.off);
        hi = std::min(hi, end);
        if (lo >= hi || m.known.has(lo, hi - lo)) return;
        write_at(raw, m, static_cast<const char*>(b.data) + (lo - b.off), hi - lo, lo);
      };
      capture(0, prefix);
      // A new plan may want more of this very block (a table that the
      // range just completed points at): capture, plan again, until the
      // plan asks for nothing more from it.
      for (bool again = true; again;) {
        bool completed = false;
        for (const Range& w : m.plan.keep) {
          if (w.end() <= b.off || w.off >= end) continue;
          const bool had = m.known.has(w.off, w.len);
          capture(w.off, w.end());
          completed = completed || (!had && m.known.has(w.off, w.len));
        }
        again = (!planned && end >= prefix) || (!m.plan.complete && completed);
        if (again) {
          replan(m);
          planned = true;
        }
      }
      const std::uint64_t held = known_bytes(m.known) - kept_before;
      if (held > limits_.max_kept_member + prefix)
        fail(path_, member_label(raw),
             fmt::format("its tables need more than {} bytes (Limits::max_kept_member)", limits_.max_kept_member));
      note_peak(held);
    }
    replan(m);
    if (!m.whole && m.plan.complete && glibc_loader(m)) {
      m.whole = true;  // all of it, in another pass if the prefix did not hold it
      replan(m);
    }
    // Holes everywhere the checker does not read.
    std::vector<Range> drop;
    std::uint64_t kept = 0;
    for (const Range& k : m.known.ranges()) {
      std::uint64_t at = k.off;
      for (const Range& w : m.plan.keep) {
        if (w.end() <= at || w.off >= k.end()) continue;
        if (w.off > at) drop.push_back({at, w.off - at});
        kept += std::min(w.end(), k.end()) - std::max(w.off, at);
        at = std::max(at, std::min(w.end(), k.end()));
      }
      if (at < k.end()) drop.push_back({at, k.end() - at});
    }
    Known left(m.known.fd(), m.base);
    for (const Range& d : drop)
      if (::fallocate(m.known.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(m.base + d.off),
                      static_cast<off_t>(d.len)) != 0)
        fail_io(path_, fmt::format("punching a hole in the memfd of {}: {}", member_label(raw), std::strerror(errno)));
    for (const Range& k : m.known.ranges())
      for (const Range& w : m.plan.keep) {
        const std::uint64_t lo = std::max(k.off, w.off), hi = std::min(k.end(), w.end());
        if (lo < hi) left.add(lo, hi - lo);
      }
    m.known = std::move(left);
    if (kept > limits_.max_kept_member)
      fail(path_, member_label(raw),
           fmt::format("its tables need {} bytes, more than {} (Limits::max_kept_member)", kept, limits_.max_kept_member));
    kept_total_ = kept_total_ - std::min(kept_total_, kept_before) + kept;
    if (kept_total_ > limits_.max_kept_total)
      fail(path_, member_label(raw),
           fmt::format("the ELF members' tables need {} bytes together, more than {} (Limits::max_kept_total)",
                       kept_total_, limits_.max_kept_total));
    note_peak(0);
  }

  static std::uint64_t known_bytes(const Known& k) {
    std::uint64_t n = 0;
    for (const Range& r : k.ranges()) n += r.len;
    return n;
  }
  void note_peak(std::uint64_t transient) { peak_kept_ = std::max(peak_kept_, kept_total_ + transient); }

  void write_at(const std::string& raw, ElfMember& m, const char* p, std::uint64_t len, std::uint64_t off) {
    for (std::uint64_t done = 0; done < len;) {
      ssize_t w = ::pwrite(m.known.fd(), p + done, len - done, static_cast<off_t>(m.base + off + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail_io(path_, fmt::format("writing the memfd of {}: {}", member_label(raw), std::strerror(errno)));
      done += static_cast<std::uint64_t>(w);
    }
    m.known.add(off, len);
  }
};

}  // namespace

Expected<resolve::Layer> read_package(const std::string& path, const Limits& limits, ReadStats* stats) {
  try {
    Reader r(path, limits);
    return r.run(stats);
  } catch (ErrorException& e) {
    return std::move(e.error);
  }
}

}  // namespace xpatch::archive
