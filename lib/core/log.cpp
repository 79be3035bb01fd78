#include "core/log.hpp"

namespace mlops {

LogSink& null_log() {
  static NullLog sink;
  return sink;
}

} // namespace mlops
