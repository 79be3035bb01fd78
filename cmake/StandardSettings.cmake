# Project-wide compiler settings, carried by the INTERFACE target mlops_options.

option(MLOPS_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
# Sanitizer lanes (scripts/build.sh MLOPS_LANE=asan|tsan sets these): "address" is
# ASan + UBSan + LSan, "thread" is TSan. Both build at -O1 with line tables only: the
# lanes exist to run tests, and full debug info doubles their compile time.
set(MLOPS_SANITIZE "" CACHE STRING "Sanitizers for every target: '', 'address' (ASan+UBSan+LSan) or 'thread' (TSan)")
set_property(CACHE MLOPS_SANITIZE PROPERTY STRINGS "" address thread)
option(MLOPS_ENABLE_SANITIZERS "Old spelling of MLOPS_SANITIZE=address" OFF)
if(MLOPS_ENABLE_SANITIZERS AND NOT MLOPS_SANITIZE)
  set(MLOPS_SANITIZE address)
endif()
# libFuzzer targets (tests/fuzz): needs clang; the library is built with coverage
# instrumentation (-fsanitize=fuzzer-no-link) so that the same build serves the
# fuzzers and the ASan unit tests and mlops binary.
option(MLOPS_FUZZ "Build the libFuzzer targets in tests/fuzz (clang, implies MLOPS_SANITIZE=address)" OFF)
if(MLOPS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MLOPS_FUZZ needs clang (configure with CXX=clang++-16)")
  endif()
  if(NOT MLOPS_SANITIZE)
    set(MLOPS_SANITIZE address)
  endif()
endif()

add_library(mlops_options INTERFACE)
target_compile_features(mlops_options INTERFACE cxx_std_20)
target_compile_options(mlops_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
  -Wformat=2 -Wimplicit-fallthrough)
if(MLOPS_WARNINGS_AS_ERRORS)
  target_compile_options(mlops_options INTERFACE -Werror)
endif()

if(MLOPS_SANITIZE STREQUAL "address")
  # Every UBSan finding stops the program, so a test or fuzzer cannot pass over it.
  set(mlops_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined)
elseif(MLOPS_SANITIZE STREQUAL "thread")
  set(mlops_sanitize_flags -fsanitize=thread)
elseif(MLOPS_SANITIZE)
  message(FATAL_ERROR "MLOPS_SANITIZE must be '', 'address' or 'thread', not '${MLOPS_SANITIZE}'")
endif()
if(MLOPS_SANITIZE)
  set(mlops_debug_flag -g1)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(mlops_debug_flag -gline-tables-only)
  endif()
  target_compile_options(mlops_options INTERFACE ${mlops_sanitize_flags} -O1 ${mlops_debug_flag} -fno-omit-frame-pointer)
  target_link_options(mlops_options INTERFACE ${mlops_sanitize_flags})
endif()
if(MLOPS_FUZZ)
  target_compile_options(mlops_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
target_compile_definitions(mlops_options INTERFACE
  MLOPS_VERSION="${PROJECT_VERSION}")
