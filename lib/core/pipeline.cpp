#include "core/pipeline.hpp"

#include <stdexcept>

namespace mlops {

ChunkPipeline::ChunkPipeline(std::vector<Stage> stages, std::size_t chunks, std::size_t capacity)
    : m_stages(std::move(stages)), m_capacity(capacity), m_queues(m_stages.size()) {
  if (m_stages.empty() || chunks == 0) throw std::invalid_argument("a pipeline needs a stage and a chunk");
  for (std::size_t i = 0; i < chunks; ++i)
    m_free.push_back({std::make_unique_for_overwrite<char[]>(capacity), 0});
  for (std::size_t i = 0; i < m_stages.size(); ++i)
    m_threads.emplace_back([this, i] { run(i); });
}

ChunkPipeline::~ChunkPipeline() {
  {
    std::lock_guard lock(m_mutex);
    m_closing = true;
  }
  m_cv.notify_all();
  for (auto& t : m_threads)
    t.join();
}

void ChunkPipeline::rethrow_locked() {
  if (m_error) std::rethrow_exception(m_error);
}

Chunk ChunkPipeline::first() {
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [&] { return !m_free.empty() || m_error; });
  rethrow_locked();
  Chunk c = std::move(m_free.front());
  m_free.pop_front();
  c.size = 0;
  return c;
}

Chunk ChunkPipeline::exchange(Chunk full) {
  {
    std::lock_guard lock(m_mutex);
    rethrow_locked();
    if (full.size == 0) return full;
    ++m_out;
    m_queues[0].push_back(std::move(full));
  }
  m_cv.notify_all();
  return first();
}

void ChunkPipeline::finish(Chunk last) {
  Chunk spare = exchange(std::move(last));
  std::unique_lock lock(m_mutex);
  m_free.push_back(std::move(spare));
  m_cv.wait(lock, [&] { return m_out == 0 || m_error; });
  rethrow_locked();
}

void ChunkPipeline::run(std::size_t stage) {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_cv.wait(lock, [&] { return m_closing || m_error || !m_queues[stage].empty(); });
    if (m_closing || m_error) return;
    Chunk c = std::move(m_queues[stage].front());
    m_queues[stage].pop_front();
    lock.unlock();
    try {
      m_stages[stage](c.data.get(), c.size);
    } catch (...) {
      lock.lock();
      if (!m_error) m_error = std::current_exception();
      m_cv.notify_all();
      return;
    }
    lock.lock();
    if (stage + 1 < m_stages.size()) {
      m_queues[stage + 1].push_back(std::move(c));
    } else {
      --m_out;
      m_free.push_back(std::move(c));
    }
    m_cv.notify_all();
  }
}

} // namespace mlops
