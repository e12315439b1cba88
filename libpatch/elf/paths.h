// The lexical path helpers: the only dirname, basename, join and normalize
// in libpatch and xpatch. Lexical means strings only: no file system, no
// symlinks (resolve::Root follows those, inside a root).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace xpatch::paths {

// Trailing slashes do not make another component ("a/b/" is "a/b"), except
// that "/" stays "/".
inline std::string_view strip_trailing_slashes(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return p;
}

// `s` cut at every character of `seps`: a search list on ':' (glibc keeps
// empty entries, the working directory; musl drops them), a path into its
// components on '/' (empty ones dropped), a tuple on '-'. Views into `s`.
inline std::vector<std::string_view> split(std::string_view s, std::string_view seps, bool keep_empty) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0;;) {
    const std::size_t j = s.find_first_of(seps, i);
    const std::string_view part = s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    if (keep_empty || !part.empty()) out.push_back(part);
    if (j == std::string_view::npos) return out;
    i = j + 1;
  }
}

// As POSIX dirname(1): "/usr/lib/x.so" -> "/usr/lib", "/x" -> "/", "x" ->
// ".", "" -> ".", "/" -> "/", "a//b" -> "a".
inline std::string dirname_of(std::string_view p) {
  p = strip_trailing_slashes(p);
  const auto slash = p.rfind('/');
  if (slash == std::string_view::npos) return ".";
  p = p.substr(0, slash);
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);  // "a//b": "a"
  return p.empty() ? "/" : std::string(p);
}

// As POSIX basename(1): "/usr/lib/x.so" -> "x.so", "x" -> "x", "a/b/" ->
// "b", "/" -> "/", "" -> "".
inline std::string basename_of(std::string_view p) {
  p = strip_trailing_slashes(p);
  if (p == "/") return "/";
  const auto slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

// `name` inside `dir`, with one slash between: ("/", "x") -> "/x",
// ("/usr/", "x") -> "/usr/x". An empty `dir` gives `name` alone: glibc takes
// an empty search-path entry as the working directory.
inline std::string join(std::string_view dir, std::string_view name) {
  std::string s(dir);
  if (!s.empty() && s.back() != '/') s += '/';
  return s.append(name);
}

// An absolute path without ".", "..", or repeated and trailing slashes,
// taken lexically ("/usr/t/bin/../lib/" -> "/usr/t/lib"); ".." at the top
// stays at "/", as the kernel does. A relative path is taken from "/".
inline std::string normalize(std::string_view p) {
  std::vector<std::string_view> parts;
  for (std::size_t i = 0; i <= p.size();) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    const std::string_view c = p.substr(i, j - i);
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!c.empty() && c != ".") {
      parts.push_back(c);
    }
    i = j + 1;
  }
  std::string out;
  for (std::string_view c : parts) out.append("/").append(c);
  return out.empty() ? "/" : out;
}

}  // namespace xpatch::paths
