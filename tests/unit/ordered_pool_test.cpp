// tools/xpatch/ordered_pool.h: results in push order whatever the threads
// do, never more than `window` items held, no thread for a few items, and
// an exception from a worker reaches the caller.
#include "tools/xpatch/ordered_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace xpatch::cli {
namespace {

TEST(OrderedStream, ResultsInPushOrderWithBoundedItemsInFlight) {
  constexpr std::size_t kItems = 20000, kWindow = 256;
  std::vector<std::size_t> seen;
  std::size_t pushed = 0, most_held = 0;
  std::atomic<bool> other_thread{false};
  const auto caller = std::this_thread::get_id();
  ordered_stream<std::size_t, std::size_t>(
      2, kWindow,
      [&](auto push) {
        for (std::size_t i = 0; i < kItems; ++i) {
          push(i);
          ++pushed;
          most_held = std::max(most_held, pushed - seen.size());
        }
      },
      [&](std::size_t i) {
        if (std::this_thread::get_id() != caller) other_thread = true;
        if (i % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));  // out of order
        return i * 3;
      },
      [&](std::size_t r) { seen.push_back(r); }, [](std::size_t) {});
  ASSERT_EQ(seen.size(), kItems);
  for (std::size_t i = 0; i < kItems; ++i) ASSERT_EQ(seen[i], i * 3) << "result " << i << " out of order";
  EXPECT_LE(most_held, kWindow) << "the stream held more items than its window";
  EXPECT_TRUE(other_thread) << "2 jobs and 20,000 items: the workers did none";
}

TEST(OrderedStream, AFewItemsStartNoThread) {
  const auto caller = std::this_thread::get_id();
  bool elsewhere = false;
  std::vector<int> seen;
  ordered_stream<int, int>(
      2, 1024,
      [&](auto push) {
        for (int i = 0; i < 10; ++i) push(i);
      },
      [&](int i) {
        elsewhere = elsewhere || std::this_thread::get_id() != caller;
        return i;
      },
      [&](int r) { seen.push_back(r); }, [](std::size_t) {});
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_FALSE(elsewhere) << "10 items ran on a worker thread";
}

TEST(OrderedStream, AWorkersExceptionReachesTheCaller) {
  std::size_t emitted = 0;
  EXPECT_THROW(ordered_pool<int>(
                   5000, 2, 128,
                   [](std::size_t i) -> int {
                     if (i == 3000) throw std::runtime_error("out of memory");
                     return static_cast<int>(i);
                   },
                   [&](int) { ++emitted; }, [](std::size_t) {}),
               std::runtime_error);
  EXPECT_LE(emitted, 3000u);
}

TEST(OrderedStream, AnEmitExceptionStopsTheWorkers) {
  EXPECT_THROW(ordered_pool<int>(
                   5000, 2, 128, [](std::size_t i) { return static_cast<int>(i); },
                   [](int r) {
                     if (r == 1000) throw std::runtime_error("disk full");
                   },
                   [](std::size_t) {}),
               std::runtime_error);
}

}  // namespace
}  // namespace xpatch::cli
