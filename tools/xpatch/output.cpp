#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>

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

}  // namespace xpatch::cli
