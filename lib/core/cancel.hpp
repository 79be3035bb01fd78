#pragma once

namespace mlops {

/// Asks every running operation to stop at its next check point (safe to call
/// from a signal handler).
void request_cancel() noexcept;

/// True once request_cancel() was called.
bool cancel_requested() noexcept;

/// Throws Error(interrupted) when cancellation was requested.
void throw_if_cancelled();

} // namespace mlops
