// lib/model/lock: mlops.lock.json as found in a model directory.
#include "fuzz.hpp"
#include "model/lock.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] {
    auto lock = mlops::model::LockFile::from_json(text, "mlops.lock.json");
    // What was accepted is written back in a form that reads back the same.
    auto again = mlops::model::LockFile::from_json(lock.to_json(), "its serialization");
    if (again.files != lock.files || again.digest != lock.digest || again.name != lock.name) __builtin_trap();
  });
  return 0;
}
