// Differential test: libpatch and LIEF 0.9, two independent readers, must
// agree on every ELF file under the paths in XPATCH_DIFF_PATHS (colon
// separated; directories are walked). LIEF only reads here; it never writes.
//
// <elf.h> macros shadow LIEF's enumerators of the same names, so LIEF enums
// are compared through their numeric values.
//
// XPATCH_DIFF_SHARD=i/n splits the file list so CTest can run shards in
// parallel; LIEF reads whole files and is the slow side.

#include <LIEF/ELF.hpp>
#include <LIEF/logging.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "libpatch/elf/model.h"

namespace xpatch {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

bool has_elf_magic(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char m[4] = {};
  return in.read(m, 4) && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
}

std::vector<std::string> diff_files() {
  const char* env = std::getenv("XPATCH_DIFF_PATHS");
  std::vector<std::string> files;
  for (const auto& root : split(env ? env : "", ':')) {
    if (fs::is_regular_file(root)) {
      files.push_back(root);
      continue;
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      // Deliberately malformed fixtures (bad-*) are for the malformed-input
      // suite: LIEF reads some of them leniently, libpatch must refuse them.
      if (it->path().filename().string().starts_with("bad-")) continue;
      if (it->is_regular_file(ec) && !it->is_symlink(ec) && has_elf_magic(it->path())) files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  if (const char* shard = std::getenv("XPATCH_DIFF_SHARD")) {
    auto parts = split(shard, '/');
    std::size_t i = std::stoul(parts.at(0)), n = std::stoul(parts.at(1));
    std::vector<std::string> mine;
    for (std::size_t k = i; k < files.size(); k += n) mine.push_back(files[k]);
    files = std::move(mine);
  }
  return files;
}

std::optional<std::string> lief_dyn_string(const LIEF::ELF::Binary& b, LIEF::ELF::DYNAMIC_TAGS tag) {
  for (const LIEF::ELF::DynamicEntry& d : b.dynamic_entries()) {
    if (d.tag() != tag) continue;
    if (auto* r = dynamic_cast<const LIEF::ELF::DynamicEntryRunPath*>(&d)) return r->runpath();
    if (auto* r = dynamic_cast<const LIEF::ELF::DynamicEntryRpath*>(&d)) return r->rpath();
    if (auto* r = dynamic_cast<const LIEF::ELF::DynamicSharedObject*>(&d)) return r->name();
  }
  return std::nullopt;
}

TEST(LiefDifferential, AgreesOnEveryFile) {
  LIEF::Logger::disable();
  auto files = diff_files();
  ASSERT_FALSE(files.empty()) << "no ELF files under XPATCH_DIFF_PATHS";
  std::size_t compared = 0, lief_refused = 0;
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    auto ours = elf::read_elf_file(path);
    std::unique_ptr<LIEF::ELF::Binary> theirs;
    try {
      theirs = LIEF::ELF::Parser::parse(path);
    } catch (const std::exception&) {
    }
    if (!theirs) {
      ++lief_refused;
      continue;
    }
    ASSERT_TRUE(ours.ok()) << "LIEF reads it but libpatch refuses: " << ours.error().message;
    const elf::ElfFile& f = *ours;
    const auto& h = theirs->header();
    EXPECT_EQ(f.header.elf_class, static_cast<int>(h.identity_class()) == ELFCLASS64 ? 64u : 32u);
    EXPECT_EQ(f.header.big_endian, static_cast<int>(h.identity_data()) == ELFDATA2MSB);
    EXPECT_EQ(f.header.machine, static_cast<std::uint16_t>(h.machine_type()));
    EXPECT_EQ(f.header.type, static_cast<std::uint16_t>(h.file_type()));
    EXPECT_EQ(f.header.entry, h.entrypoint());
    EXPECT_EQ(f.header.phoff, h.program_headers_offset());

    auto segs = theirs->segments();
    ASSERT_EQ(f.segments.size(), segs.size());
    std::size_t i = 0;
    for (const LIEF::ELF::Segment& s : segs) {
      const elf::Segment& o = f.segments[i++];
      EXPECT_EQ(o.type, static_cast<std::uint32_t>(s.type())) << "segment " << i - 1;
      EXPECT_EQ(o.offset, s.file_offset()) << "segment " << i - 1;
      EXPECT_EQ(o.vaddr, s.virtual_address()) << "segment " << i - 1;
      EXPECT_EQ(o.filesz, s.physical_size()) << "segment " << i - 1;
      EXPECT_EQ(o.memsz, s.virtual_size()) << "segment " << i - 1;
      EXPECT_EQ(o.flags, static_cast<std::uint32_t>(s.flags())) << "segment " << i - 1;
      EXPECT_EQ(o.align, s.alignment()) << "segment " << i - 1;
    }

    std::optional<std::string> interp;
    if (theirs->has_interpreter()) interp = theirs->interpreter();
    EXPECT_EQ(f.interpreter, interp);
    std::vector<std::string> needed;
    for (const LIEF::ELF::DynamicEntry& d : theirs->dynamic_entries())
      if (auto* lib = dynamic_cast<const LIEF::ELF::DynamicEntryLibrary*>(&d)) needed.push_back(lib->name());
    EXPECT_EQ(std::vector<std::string>(f.needed.begin(), f.needed.end()), needed);
    EXPECT_EQ(f.runpath, lief_dyn_string(*theirs, static_cast<LIEF::ELF::DYNAMIC_TAGS>(DT_RUNPATH)));
    EXPECT_EQ(f.rpath, lief_dyn_string(*theirs, static_cast<LIEF::ELF::DYNAMIC_TAGS>(DT_RPATH)));
    EXPECT_EQ(f.soname, lief_dyn_string(*theirs, static_cast<LIEF::ELF::DYNAMIC_TAGS>(DT_SONAME)));
    ++compared;
  }
  std::printf("lief-differential: %zu files compared, %zu that LIEF could not read skipped\n", compared,
              lief_refused);
  EXPECT_GT(compared, files.size() / 2) << "LIEF refused most files; the comparison proves nothing";
}

}  // namespace
}  // namespace xpatch
