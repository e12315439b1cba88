// Running out of memory, in two steps (main.cpp's new handler): the first
// allocation that fails is given half of a reserve set aside at start and
// goes on, since it may be inside a destructor (nlohmann::json's allocate),
// where a throw is std::terminate; loops over many items (ordered_pool.h)
// then stop at their next item boundary, where a throw is safe, and the
// other half is left for the unwinding. A second failure throws.
#pragma once

#include <atomic>
#include <new>

namespace xpatch::cli {

inline std::atomic<bool> g_memory_short{false};

// Throws std::bad_alloc once an allocation has failed: call where a throw is safe.
inline void stop_if_out_of_memory() {
  if (g_memory_short.load(std::memory_order_relaxed)) throw std::bad_alloc();
}

}  // namespace xpatch::cli
