#include "oci/zstd.hpp"

#include "core/error.hpp"

#include <zstd.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace mlops::oci {

namespace {

// Each worker holds jobs in and out and its own match tables: 4 workers add
// about 15 MiB, 8 about 27 MiB (1 MiB jobs; flat in input size), too close to
// the 64 MiB a whole package run may take.
constexpr unsigned k_max_auto_workers = 4;

/// The frame and compression parameters, every one set so that a libzstd
/// default that changes, or one chosen from the input size, cannot change
/// the bytes. The compression parameters are level 3's for input of unknown
/// size (ZSTD_getCParams(3, 0, 0) in libzstd 1.5.4).
constexpr std::pair<ZSTD_cParameter, int> k_parameters[] = {
    {ZSTD_c_compressionLevel, ZstdCompressor::k_level},
    {ZSTD_c_windowLog, 21},
    {ZSTD_c_hashLog, 17},
    {ZSTD_c_chainLog, 16},
    {ZSTD_c_searchLog, 1},
    {ZSTD_c_minMatch, 5},
    {ZSTD_c_targetLength, 0},
    {ZSTD_c_strategy, ZSTD_dfast},
    {ZSTD_c_enableLongDistanceMatching, 0},
    {ZSTD_c_checksumFlag, 1},    // the frame carries a checksum of its content
    {ZSTD_c_contentSizeFlag, 0}, // known only when all input came in one call: never written
    {ZSTD_c_dictIDFlag, 0},
    {ZSTD_c_jobSize, static_cast<int>(ZstdCompressor::k_job_size)},
    {ZSTD_c_overlapLog, 6}, // each job sees the last 1/8 of the window before it
};

[[noreturn]] void fail(std::size_t code) {
  throw Error(ErrorKind::operational, std::string("zstd failed: ") + ZSTD_getErrorName(code));
}

} // namespace

ZstdCompressor::ZstdCompressor(ByteSink& out, unsigned workers)
    : m_out(out), m_cctx(ZSTD_createCCtx()), m_buffer(ZSTD_CStreamOutSize()) {
  if (!m_cctx) throw Error(ErrorKind::operational, "cannot initialise zstd");
  if (workers == 0) workers = std::clamp(std::thread::hardware_concurrency(), 1u, k_max_auto_workers);
  try {
    // Workers first: they decide which mode the parameters below apply to.
    std::size_t rc = ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_nbWorkers, static_cast<int>(workers));
    if (ZSTD_isError(rc)) fail(rc);
    for (const auto& [param, value] : k_parameters) {
      rc = ZSTD_CCtx_setParameter(m_cctx, param, value);
      if (ZSTD_isError(rc)) fail(rc);
    }
  } catch (...) {
    ZSTD_freeCCtx(m_cctx);
    throw;
  }
}

ZstdCompressor::~ZstdCompressor() { ZSTD_freeCCtx(m_cctx); }

void ZstdCompressor::drive(const void* data, std::size_t size, int mode) {
  const auto end_op = static_cast<ZSTD_EndDirective>(mode);
  ZSTD_inBuffer in{data, size, 0};
  for (;;) {
    ZSTD_outBuffer out{m_buffer.data(), m_buffer.size(), 0};
    std::size_t left = ZSTD_compressStream2(m_cctx, &out, &in, end_op);
    if (ZSTD_isError(left)) fail(left);
    if (out.pos) {
      m_out.write(m_buffer.data(), out.pos);
      m_bytes_out += out.pos;
    }
    // e_continue is done when the input is taken; e_end when nothing is left to flush.
    if (end_op == ZSTD_e_continue ? in.pos == in.size : left == 0) return;
  }
}

void ZstdCompressor::write(const void* data, std::size_t size) {
  // No call for no input: the first call decides whether libzstd knows the
  // whole input (and may tune itself to its size), so it must come from
  // the bytes alone, not from how they were split.
  if (size) drive(data, size, ZSTD_e_continue);
}

void ZstdCompressor::finish() {
  if (m_finished) return;
  m_finished = true;
  drive(nullptr, 0, ZSTD_e_end);
  m_out.finish();
}

} // namespace mlops::oci
