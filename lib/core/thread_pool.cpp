#include "core/thread_pool.hpp"

#include <algorithm>
#include <atomic>

namespace mlops {

struct ThreadPool::Batch {
  Batch(std::size_t n, const std::function<void(std::size_t)>& t) : count(n), task(t) { result.errors.resize(n); }
  std::size_t count;
  const std::function<void(std::size_t)>& task;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex; ///< guards `result`
  FanOut result;
};

std::exception_ptr FanOut::lowest() const {
  for (const auto& e : errors)
    if (e) return e;
  return nullptr;
}

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  m_workers.reserve(threads - 1);
  for (unsigned i = 1; i < threads; ++i)
    m_workers.emplace_back([this](std::stop_token stop) { work(stop); });
}

ThreadPool::~ThreadPool() {
  for (auto& w : m_workers)
    w.request_stop();
  m_wake.notify_all();
  // The jthreads join as m_workers is destroyed.
}

void ThreadPool::run_items(Batch& b) {
  // Items are claimed in increasing order, so when item i fails every item
  // below i has been claimed already: stopping here skips only later ones.
  for (std::size_t i; !b.failed.load() && (i = b.next.fetch_add(1)) < b.count;) {
    try {
      b.task(i);
    } catch (...) {
      std::lock_guard lock(b.mutex);
      b.result.errors[i] = std::current_exception();
      if (!b.result.first) b.result.first = b.result.errors[i];
      b.failed.store(true);
    }
  }
}

void ThreadPool::work(std::stop_token stop) {
  std::size_t seen = 0;
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (!m_wake.wait(lock, stop, [&] { return m_generation != seen; })) return; // stop requested
    seen = m_generation;
    Batch* batch = m_batch;
    if (!batch) continue; // woke after that batch was over: the caller ran it alone
    ++m_busy;
    lock.unlock();
    run_items(*batch);
    lock.lock();
    if (--m_busy == 0) m_idle.notify_all();
  }
}

FanOut ThreadPool::for_each(std::size_t count, const std::function<void(std::size_t)>& task) {
  std::lock_guard one_at_a_time(m_run);
  Batch batch(count, task);
  if (!m_workers.empty() && count > 1) {
    std::lock_guard lock(m_mutex);
    m_batch = &batch;
    ++m_generation;
    m_wake.notify_all();
  }
  run_items(batch);
  {
    // Workers that have not joined by now find no item left; wait for those inside.
    std::unique_lock lock(m_mutex);
    m_idle.wait(lock, [&] { return m_busy == 0; });
    m_batch = nullptr;
  }
  return std::move(batch.result);
}

} // namespace mlops
