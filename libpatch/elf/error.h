// Errors are values. The library never prints or exits; callers decide.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace xpatch {

struct Error {
  enum class Kind {
    Io,         // the file could not be opened, read or written
    NotElf,     // no ELF magic: not our business, but worth saying when named
    Malformed,  // an ELF file whose structures contradict themselves or the file size
    Unsupported,// well-formed, but asks for something this tool refuses to do
    Internal,   // a planner mistake caught before anything is written (a bug in xpatch, not the file)
  };
  Kind kind;
  std::string message;  // "FILE: STRUCTURE: what is wrong (value)"
};

const char* kind_name(Error::Kind k) noexcept;

template <typename T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}          // NOLINT: implicit, as with std::expected
  Expected(Error error) : v_(std::move(error)) {}      // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// An operation that returns nothing but can fail. The same convention as
// Expected<T>: true (ok()) on success, error() on failure. (An
// std::optional<Error> would be the opposite: true on failure.)
template <>
class Expected<void> {
 public:
  Expected() = default;                                     // success
  Expected(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit, as above

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{};
  bool ok_ = true;
};
using Status = Expected<void>;

// Inside the parser, a violated check throws this; the public entry points
// catch it at the boundary and return it as an Error value.
struct ErrorException {
  Error error;
};

}  // namespace xpatch
