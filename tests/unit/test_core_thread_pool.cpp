#include "core/error.hpp"
#include "core/thread_pool.hpp"

#include <doctest/doctest.h>

#include <chrono>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace mlops;

namespace {

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

} // namespace

TEST_CASE("thread pool: every item runs once, on the pool's threads, batch after batch") {
  ThreadPool pool(4);
  CHECK(pool.size() == 4);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> runs(97);
    std::mutex m;
    std::set<std::thread::id> threads;
    FanOut f = pool.for_each(runs.size(), [&](std::size_t i) {
      ++runs[i];
      std::lock_guard lock(m);
      threads.insert(std::this_thread::get_id());
    });
    CHECK_FALSE(f.first);
    CHECK(f.errors.size() == runs.size());
    for (const auto& r : runs)
      CHECK(r.load() == 1);
    CHECK(threads.size() <= 4);
  }
  CHECK_FALSE(pool.for_each(0, [](std::size_t) { FAIL("ran"); }).first);
}

TEST_CASE("thread pool: after a failure no further item starts, and both the first and the lowest failure are kept") {
  ThreadPool one(1); // the caller alone: the order is fixed
  std::vector<std::size_t> ran;
  FanOut f = one.for_each(10, [&](std::size_t i) {
    ran.push_back(i);
    if (i == 3) throw Error(ErrorKind::io, "item 3");
  });
  CHECK(ran == std::vector<std::size_t>{0, 1, 2, 3});
  CHECK(message_of(f.first) == "item 3");
  CHECK(message_of(f.lowest()) == "item 3");
  CHECK_FALSE(f.errors[4]);

  // Several threads: item 5 fails at once, item 2 (already running) later.
  ThreadPool pool(3);
  std::atomic<bool> five_failed{false};
  FanOut g = pool.for_each(50, [&](std::size_t i) {
    if (i == 5) {
      five_failed = true;
      throw Error(ErrorKind::io, "item 5");
    }
    if (i == 2) {
      while (!five_failed)
        std::this_thread::yield();
      // five_failed is set just before item 5 throws: give its worker time to record the
      // failure, so that "first" is item 5 (the flag alone left a race on a loaded machine).
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      throw Error(ErrorKind::io, "item 2");
    }
  });
  CHECK(message_of(g.first) == "item 5");
  CHECK(message_of(g.lowest()) == "item 2");
}

TEST_CASE("thread pool: zero means one thread per core; destruction joins idle workers") {
  ThreadPool pool(0);
  CHECK(pool.size() == std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool many(8); // destroyed without ever running a batch
}
