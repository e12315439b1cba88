// Runs work(i) for i in [0, n) on `jobs` threads and hands each result to
// emit() on the calling thread, in index order, as soon as it and every
// result before it are ready. At most `window` results wait at a time, so
// memory stays bounded however many items there are; one pool serves the
// whole run (no barrier per batch). tick() runs on the calling thread about
// every 100 ms with the number of results emitted so far (for progress).
// An exception from work() or emit() (std::bad_alloc) stops the workers and
// is rethrown on the calling thread; a thread that cannot be started leaves
// the work to those that could (or to the calling thread alone).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <optional>
#include <thread>
#include <vector>

namespace xpatch::cli {

template <typename Result, typename Work, typename Emit, typename Tick>
void ordered_pool(std::size_t n, unsigned jobs, std::size_t window, Work work, Emit emit, Tick tick) {
  if (n == 0) return;
  auto inline_from = [&](std::size_t from) {
    for (std::size_t i = from; i < n; ++i) {
      emit(work(i));
      if (i % 64 == 0) tick(i);
    }
  };
  if (jobs <= 1) return inline_from(0);
  std::mutex mu;
  std::condition_variable room, ready;
  std::vector<std::optional<Result>> slots(window);
  std::size_t next = 0, emitted = 0;
  std::exception_ptr failed;  // the first exception from a worker
  // Workers take kChunk indices at a time: most items (files that are not
  // ELF) take microseconds, and a lock per item would cost more than they do.
  constexpr std::size_t kChunk = 16;
  auto worker = [&] {
    try {
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
    } catch (...) {
      std::lock_guard lk(mu);
      if (!failed) failed = std::current_exception();
      next = n;  // the other workers stop after their chunk
      ready.notify_one();
    }
  };
  // Stops the workers (they finish their chunk and return) before the pool
  // is joined: without it, an exception here would wait forever on them.
  auto stop = [&] {
    {
      std::lock_guard lk(mu);
      next = n;
    }
    room.notify_all();
  };
  std::vector<std::jthread> pool;
  for (unsigned k = 0; k < jobs && k < n; ++k) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // no more threads (a process or memory limit): go on with those there are
    }
  }
  if (pool.empty()) return inline_from(0);
  try {
    while (emitted < n) {
      std::optional<Result> r;
      {
        std::unique_lock lk(mu);
        if (!ready.wait_for(lk, std::chrono::milliseconds(100),
                            [&] { return failed || slots[emitted % window].has_value(); })) {
          lk.unlock();
          tick(emitted);
          continue;
        }
        if (failed) std::rethrow_exception(failed);
        r.swap(slots[emitted % window]);
        ++emitted;
      }
      room.notify_all();
      emit(std::move(*r));
    }
  } catch (...) {
    stop();
    throw;
  }
}

}  // namespace xpatch::cli
