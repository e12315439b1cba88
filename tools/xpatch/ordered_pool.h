// Runs work(i) for i in [0, n) on `jobs` threads and hands each result to
// emit() on the calling thread, in index order, as soon as it and every
// result before it are ready. At most `window` results wait at a time, so
// memory stays bounded however many items there are; one pool serves the
// whole run (no barrier per batch). tick() runs on the calling thread about
// every 100 ms with the number of results emitted so far (for progress).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace xpatch::cli {

template <typename Result, typename Work, typename Emit, typename Tick>
void ordered_pool(std::size_t n, unsigned jobs, std::size_t window, Work work, Emit emit, Tick tick) {
  if (n == 0) return;
  if (jobs <= 1) {
    for (std::size_t i = 0; i < n; ++i) {
      emit(work(i));
      if (i % 64 == 0) tick(i);
    }
    return;
  }
  std::mutex mu;
  std::condition_variable room, ready;
  std::vector<std::optional<Result>> slots(window);
  std::size_t next = 0, emitted = 0;
  // Workers take kChunk indices at a time: most items (files that are not
  // ELF) take microseconds, and a lock per item would cost more than they do.
  constexpr std::size_t kChunk = 16;
  auto worker = [&] {
    std::vector<Result> local;
    for (;;) {
      std::size_t first, count;
      {
        std::unique_lock lk(mu);
        room.wait(lk, [&] { return next >= n || next + kChunk <= emitted + window; });
        if (next >= n) return;
        first = next;
        count = std::min(kChunk, n - next);
        next += count;
      }
      local.clear();
      for (std::size_t i = first; i < first + count; ++i) local.push_back(work(i));
      std::lock_guard lk(mu);
      for (std::size_t k = 0; k < count; ++k) slots[(first + k) % window].emplace(std::move(local[k]));
      if (first <= emitted && emitted < first + count) ready.notify_one();
    }
  };
  std::vector<std::jthread> pool;
  for (unsigned k = 0; k < jobs && k < n; ++k) pool.emplace_back(worker);
  while (emitted < n) {
    std::optional<Result> r;
    {
      std::unique_lock lk(mu);
      if (!ready.wait_for(lk, std::chrono::milliseconds(100), [&] { return slots[emitted % window].has_value(); })) {
        lk.unlock();
        tick(emitted);
        continue;
      }
      r.swap(slots[emitted % window]);
      ++emitted;
    }
    room.notify_all();
    emit(std::move(*r));
  }
}

}  // namespace xpatch::cli
