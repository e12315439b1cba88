// Byte-order-aware integers, stored in the file's byte order.
//
// ELF fields are declared as Int<T, E>; reading one converts to a native
// integer and assigning converts back. No use site ever swaps bytes by hand,
// which is the class of bug that runtime byte-order flags invite.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace xpatch::elf {

template <typename T>
constexpr T byteswap(T v) noexcept {
  static_assert(std::is_unsigned_v<T>);
  if constexpr (sizeof(T) == 1) return v;
  else if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(v));
  else if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(v));
  else return static_cast<T>(__builtin_bswap64(v));
}

// Alignment 1 and no padding, so a struct of Ints overlays file bytes at any
// offset; loads go through memcpy, which is well defined for unaligned data.
template <typename T, std::endian E>
class Int {
 public:
  Int() = default;
  Int(T v) noexcept { *this = v; }  // NOLINT: implicit by design, like a plain field

  operator T() const noexcept {  // NOLINT
    T v;
    std::memcpy(&v, raw_, sizeof v);
    if constexpr (E != std::endian::native) v = byteswap(v);
    return v;
  }
  Int& operator=(T v) noexcept {
    if constexpr (E != std::endian::native) v = byteswap(v);
    std::memcpy(raw_, &v, sizeof v);
    return *this;
  }

 private:
  unsigned char raw_[sizeof(T)];
};

static_assert(sizeof(Int<std::uint64_t, std::endian::big>) == 8);
static_assert(alignof(Int<std::uint64_t, std::endian::big>) == 1);

}  // namespace xpatch::elf
