# Project-wide compiler settings, carried by the INTERFACE target mlops_options.

option(MLOPS_ENABLE_SANITIZERS "Build with AddressSanitizer and UBSan" OFF)
option(MLOPS_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)

add_library(mlops_options INTERFACE)
target_compile_features(mlops_options INTERFACE cxx_std_20)
target_compile_options(mlops_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
  -Wformat=2 -Wimplicit-fallthrough)
if(MLOPS_WARNINGS_AS_ERRORS)
  target_compile_options(mlops_options INTERFACE -Werror)
endif()
if(MLOPS_ENABLE_SANITIZERS)
  target_compile_options(mlops_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(mlops_options INTERFACE -fsanitize=address,undefined)
endif()
target_compile_definitions(mlops_options INTERFACE
  MLOPS_VERSION="${PROJECT_VERSION}")
