#include "core/cancel.hpp"

#include "core/error.hpp"

#include <atomic>

namespace mlops {

namespace {
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free);
} // namespace

void request_cancel() noexcept { g_cancel.store(true, std::memory_order_relaxed); }

bool cancel_requested() noexcept { return g_cancel.load(std::memory_order_relaxed); }

void throw_if_cancelled() {
  if (cancel_requested()) throw Error(ErrorKind::interrupted, "interrupted");
}

} // namespace mlops
