#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>

#include "tools/xpatch/cli.h"

namespace xpatch::cli {

std::string Style::operator()(fmt::text_style st, std::string_view s) const {
  return color ? fmt::format(st, "{}", s) : std::string(s);
}

Style style_for(std::FILE* stream, ColorMode mode) {
  if (mode == ColorMode::Always) return {true};
  if (mode == ColorMode::Never) return {false};
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return {false};
  return {::isatty(::fileno(stream)) == 1};
}

void print_error(const std::string& message) {
  static const Style st = style_for(stderr, ColorMode::Auto);
  fmt::print(stderr, "{}: {}\n", st(fmt::emphasis::bold, "xpatch"), st(fg(fmt::terminal_color::red), message));
}

void print_warning(const std::string& message) {
  static const Style st = style_for(stderr, ColorMode::Auto);
  fmt::print(stderr, "{}: {} {}\n", st(fmt::emphasis::bold, "xpatch"), st(fg(fmt::terminal_color::yellow), "warning:"),
             message);
}

std::vector<std::string> read_stdin_list(bool null_sep) {
  std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  char sep = null_sep ? '\0' : '\n';
  std::size_t i = 0;
  while (i <= all.size()) {
    std::size_t j = all.find(sep, i);
    if (j == std::string::npos) j = all.size();
    std::string item = all.substr(i, j - i);
    if (!null_sep && !item.empty() && item.back() == '\r') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    i = j + 1;
  }
  return out;
}

}  // namespace xpatch::cli
