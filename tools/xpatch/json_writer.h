// A small streaming JSON writer for the per-file hot path of `show`, where
// building a DOM per file cost more than reading the file. It writes keys in
// call order; strings are escaped per RFC 8259.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xpatch::cli {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& key(std::string_view k) {
    comma();
    string(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view v) { return scalar([&] { string(v); }); }
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(bool v) { return scalar([&] { out_ += v ? "true" : "false"; }); }
  JsonWriter& value(std::uint64_t v) { return scalar([&] { fmt::format_to(std::back_inserter(out_), "{}", v); }); }
  JsonWriter& value(std::int64_t v) { return scalar([&] { fmt::format_to(std::back_inserter(out_), "{}", v); }); }
  JsonWriter& value(unsigned v) { return value(std::uint64_t{v}); }
  JsonWriter& value(const std::optional<std::string>& v) {
    return v ? value(std::string_view(*v)) : scalar([&] { out_ += "null"; });
  }
  template <typename S>  // std::string or std::string_view
  JsonWriter& value(const std::vector<S>& v) {
    begin_array();
    for (const auto& s : v) value(std::string_view(s));
    return end_array();
  }
  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

 private:
  std::string& out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;

  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  template <typename F>
  JsonWriter& scalar(F&& emit) {
    comma();
    emit();
    return *this;
  }
  JsonWriter& open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  void string(std::string_view s) {
    out_ += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\r': out_ += "\\r"; break;
        default:
          if (c < 0x20) fmt::format_to(std::back_inserter(out_), "\\u{:04x}", c);
          else out_ += static_cast<char>(c);
      }
    }
    out_ += '"';
  }
};

}  // namespace xpatch::cli
