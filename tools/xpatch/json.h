// The one JSON path of the CLI: every subcommand builds nlohmann values and
// prints them through json_line, so every line carries the schema version
// and is valid UTF-8 whatever the bytes in a file name, DT_NEEDED or
// runpath (docs/json.md; docs/xpatch.schema.json checks it in the tests).
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "libpatch/elf/error.h"

namespace xpatch::cli {

using Json = nlohmann::ordered_json;

// Bumped when a key changes meaning or goes away; adding keys does not bump it.
inline constexpr int kJsonSchema = 2;

// {"schema": 2}: the first key of every object printed.
inline Json json_object() { return Json{{"schema", kJsonSchema}}; }

// A string or null.
inline Json json_or_null(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

// {"kind": "malformed"|"io"|"not-elf"|"unsupported", "message": "..."}
inline Json json_error(const Error& e) { return Json{{"kind", kind_name(e.kind)}, {"message", e.message}}; }

// Compact, one line, newline-terminated. Bytes that are not UTF-8 become
// U+FFFD (the replacement character), one per invalid byte.
inline std::string json_line(const Json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
  s += '\n';
  return s;
}
inline void print_json(const Json& j) {
  std::string s = json_line(j);
  std::fwrite(s.data(), 1, s.size(), stdout);
}

}  // namespace xpatch::cli
