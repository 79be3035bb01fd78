#pragma once

#include <cstdint>
#include <string>

namespace mlops {

/// ISO 8601 UTC to the second ("2026-01-02T03:04:05Z") of an epoch-milliseconds time.
std::string iso8601_utc_ms(std::int64_t epoch_ms);

/// The current time as iso8601_utc_ms writes it: what a record says about "when".
std::string now_iso();

} // namespace mlops
