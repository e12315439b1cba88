// Runs work(item) on worker threads and hands each result to emit() on the
// calling thread, in the order the items were pushed, as soon as it and
// every result before it are ready. Items are pushed while they are found
// (a directory walk streams its files in), and at most `window` items are
// queued or waiting to be emitted at a time: push() emits (and waits for)
// the oldest results when the window is full, so memory stays bounded
// however many items there are, and nothing is collected first. Workers
// start only once kStartAfter items are pushed: a handful of files is done
// on the calling thread, without a thread's start-up and hand-offs.
// tick() runs on the calling thread about every 100 ms (and every 64 items
// done on the calling thread) with the number of results emitted so far.
// An exception from work() or emit() (std::bad_alloc) stops the workers and
// is rethrown on the calling thread; a thread that cannot be started leaves
// the work to those that could (or to the calling thread alone).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tools/xpatch/out_of_memory.h"

namespace xpatch::cli {

// The window of a walk streamed into the workers: room for the workers to
// run ahead of a slow file, while the results it holds (a --json object of
// a few KiB each) stay a small, fixed part of peak RSS (1,024 was 7 MiB).
constexpr std::size_t kStreamWindow = 256;

template <typename Item, typename Result, typename Work, typename Emit, typename Tick>
class OrderedStream {
 public:
  // Fewer items than this are not worth a thread: most files (not ELF)
  // take microseconds, a thread's start and hand-offs about as much.
  static constexpr std::size_t kStartAfter = 64;

  OrderedStream(unsigned jobs, std::size_t window, Work work, Emit emit, Tick tick)
      : jobs_(jobs), window_(std::max(window, kStartAfter * 2)), work_(std::move(work)), emit_(std::move(emit)),
        tick_(std::move(tick)), slots_(jobs > 1 ? window_ : 0) {}
  OrderedStream(const OrderedStream&) = delete;
  OrderedStream& operator=(const OrderedStream&) = delete;
  ~OrderedStream() { stop(); }

  void push(Item item) {
    if (jobs_ <= 1) {  // no workers: done here, in order
      emit_(work_(std::move(item)));
      if (++pushed_ % 64 == 0) tick_(pushed_);
      return;
    }
    std::unique_lock lk(mu_);
    while (pushed_ - emitted_ >= window_) emit_next(lk);  // full: the oldest first
    queue_.emplace_back(pushed_++, std::move(item));
    if (pool_.empty()) {
      if (pushed_ < kStartAfter) return;
      lk.unlock();
      start();
      lk.lock();
    }
    if (queue_.size() >= kChunk) work_ready_.notify_one();  // a worker's batch is there
    while (!failed_ && slots_[emitted_ % window_]) emit_next(lk);  // whatever is ready, without waiting
    if (failed_) std::rethrow_exception(failed_);
  }

  // Emits every result still owed; the stream is empty after it.
  void finish() {
    if (jobs_ <= 1) return;
    std::unique_lock lk(mu_);
    if (pool_.empty()) {  // too few items for workers: do them here
      while (!queue_.empty()) {
        auto [i, item] = std::move(queue_.front());
        queue_.pop_front();
        lk.unlock();
        Result r = work_(std::move(item));
        ++emitted_;
        emit_(std::move(r));
        lk.lock();
      }
      return;
    }
    done_ = true;
    work_ready_.notify_all();
    while (emitted_ < pushed_) emit_next(lk);
    lk.unlock();
    stop();
  }

 private:
  // Waits for the oldest result and emits it; `lk` is held on entry and exit.
  void emit_next(std::unique_lock<std::mutex>& lk) {
    std::optional<Result>& slot = slots_[emitted_ % window_];
    if (!slot && !flush_) {  // it may sit in a short queue: workers, take what there is
      flush_ = true;
      work_ready_.notify_all();
    }
    while (!failed_ && !slot) {
      if (!result_ready_.wait_for(lk, std::chrono::milliseconds(100), [&] { return failed_ || slot.has_value(); })) {
        const std::size_t n = emitted_;
        lk.unlock();
        tick_(n);
        lk.lock();
      }
    }
    if (failed_) std::rethrow_exception(failed_);
    Result r = std::move(*slot);
    slot.reset();
    ++emitted_;
    flush_ = false;
    lk.unlock();
    try {
      emit_(std::move(r));
    } catch (...) {
      lk.lock();
      throw;
    }
    lk.lock();
  }

  void start() {
    for (unsigned k = 0; k < jobs_; ++k) {
      try {
        pool_.emplace_back([this] { worker(); });
      } catch (const std::system_error&) {
        break;  // no more threads (a process or memory limit): go on with those there are
      }
    }
    if (pool_.empty()) jobs_ = 1;  // not even one: everything on the calling thread, from the queue on
    if (jobs_ == 1) {
      std::unique_lock lk(mu_);
      while (!queue_.empty()) {
        auto [i, item] = std::move(queue_.front());
        queue_.pop_front();
        ++emitted_;
        lk.unlock();
        emit_(work_(std::move(item)));
        stop_if_out_of_memory();
        lk.lock();
      }
    }
  }

  // Items are handed over kChunk at a time: a lock and a wake-up per file
  // would cost about what a file that is not ELF does (a worker woken per
  // item made `show` use 60% more CPU with two workers than with one).
  static constexpr std::size_t kChunk = 16;

  void worker() {
    std::vector<std::pair<std::size_t, Item>> mine;
    std::vector<Result> results;
    try {
      for (;;) {
        mine.clear();
        results.clear();
        {
          std::unique_lock lk(mu_);
          work_ready_.wait(lk, [&] {
            return done_ || stopping_ || queue_.size() >= kChunk || (flush_ && !queue_.empty());
          });
          if (stopping_ || (queue_.empty() && done_)) return;
          const std::size_t take = std::min(queue_.size(), kChunk);
          for (std::size_t k = 0; k < take; ++k) {
            mine.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        for (auto& [i, item] : mine) {
          results.push_back(work_(std::move(item)));
          stop_if_out_of_memory();
        }
        std::lock_guard lk(mu_);
        bool oldest = false;
        for (std::size_t k = 0; k < mine.size(); ++k) {
          slots_[mine[k].first % window_].emplace(std::move(results[k]));
          oldest = oldest || mine[k].first == emitted_;
        }
        if (oldest) result_ready_.notify_one();
      }
    } catch (...) {
      std::lock_guard lk(mu_);
      if (!failed_) failed_ = std::current_exception();
      stopping_ = true;
      work_ready_.notify_all();
      result_ready_.notify_one();
    }
  }

  // Stops the workers (each finishes what it holds) and joins them: without
  // it, an exception on the calling thread would wait forever on them.
  void stop() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    work_ready_.notify_all();
    pool_.clear();  // joins
  }

  unsigned jobs_;
  const std::size_t window_;
  Work work_;
  Emit emit_;
  Tick tick_;
  std::mutex mu_;
  std::condition_variable work_ready_, result_ready_;
  std::deque<std::pair<std::size_t, Item>> queue_;
  std::vector<std::optional<Result>> slots_;
  std::size_t pushed_ = 0, emitted_ = 0;
  bool done_ = false, stopping_ = false;
  bool flush_ = false;  // the caller waits for a result: a short queue is worth taking
  std::exception_ptr failed_;
  std::vector<std::jthread> pool_;
};

// A stream over items pushed by `produce(push)`: push(item) may be called
// any number of times, from the calling thread only.
template <typename Item, typename Result, typename Produce, typename Work, typename Emit, typename Tick>
void ordered_stream(unsigned jobs, std::size_t window, Produce produce, Work work, Emit emit, Tick tick) {
  OrderedStream<Item, Result, Work, Emit, Tick> s(jobs, window, std::move(work), std::move(emit), std::move(tick));
  produce([&](Item item) { s.push(std::move(item)); });
  s.finish();
}

// The same over the indices [0, n) of items known beforehand.
template <typename Result, typename Work, typename Emit, typename Tick>
void ordered_pool(std::size_t n, unsigned jobs, std::size_t window, Work work, Emit emit, Tick tick) {
  ordered_stream<std::size_t, Result>(
      jobs, window,
      [&](auto push) {
        for (std::size_t i = 0; i < n; ++i) push(i);
      },
      std::move(work), std::move(emit), std::move(tick));
}

}  // namespace xpatch::cli
