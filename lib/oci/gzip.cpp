#include "oci/gzip.hpp"

#include "core/error.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>

namespace mlops::oci {

namespace {

constexpr std::size_t k_window = 32 * 1024; // deflate's window: all a dictionary can hold

constexpr unsigned k_max_auto_threads = 8;
constexpr std::size_t k_probe_piece = 4 * 1024; // 4 pieces from across a block judge it
constexpr double k_store_above = 0.97;          // a probe that keeps more than 97 %: store the block

/// A raw deflate stream, reset for every use.
struct RawDeflate {
  z_stream z{};
  explicit RawDeflate(int level) {
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw Error(ErrorKind::operational, "cannot initialise gzip");
    }
  }
  ~RawDeflate() { deflateEnd(&z); }
  RawDeflate(const RawDeflate&) = delete;
  RawDeflate& operator=(const RawDeflate&) = delete;
};

/// What one worker deflates with: the chosen level, and level 0 (stored
/// blocks) for data that does not compress, such as model weights, where
/// deflate would spend ~25 ns a byte to gain nothing.
struct Deflater {
  RawDeflate packed, stored{0};
  std::vector<unsigned char> probe_in, probe_out;
  explicit Deflater(int level) : packed(level) {}

  /// True when pieces from across `in` barely compress. Depends on the
  /// bytes only, so the choice (and the output) is reproducible.
  bool incompressible(const std::vector<unsigned char>& in) {
    if (in.size() < 4 * k_probe_piece) return false;
    probe_in.clear();
    for (std::size_t i = 0; i < 4; ++i) {
      auto at = in.begin() + static_cast<std::ptrdiff_t>(in.size() / 4 * i);
      probe_in.insert(probe_in.end(), at, at + static_cast<std::ptrdiff_t>(k_probe_piece));
    }
    z_stream& z = packed.z;
    probe_out.resize(deflateBound(&z, static_cast<uLong>(probe_in.size())) + 64);
    if (deflateReset(&z) != Z_OK) throw Error(ErrorKind::operational, "gzip failed");
    z.next_in = probe_in.data();
    z.avail_in = static_cast<uInt>(probe_in.size());
    z.next_out = probe_out.data();
    z.avail_out = static_cast<uInt>(probe_out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw Error(ErrorKind::operational, "gzip failed");
    return static_cast<double>(z.total_out) > k_store_above * static_cast<double>(probe_in.size());
  }
};

void put_le32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}

} // namespace

struct ParallelGzip::Job {
  std::vector<unsigned char> in, dict, out;
  bool last = false;
  bool done = false;
  std::uint32_t crc = 0;
  std::exception_ptr error;

  /// Deflates `in` after `dict` (or stores it when it does not compress);
  /// the block ends byte-aligned (sync flush) unless it is the last, which
  /// ends the deflate stream.
  void run(Deflater& d) {
    z_stream& z = d.incompressible(in) ? d.stored.z : d.packed.z;
    if (deflateReset(&z) != Z_OK) throw Error(ErrorKind::operational, "gzip failed");
    if (!dict.empty() && deflateSetDictionary(&z, dict.data(), static_cast<uInt>(dict.size())) != Z_OK) {
      throw Error(ErrorKind::operational, "gzip failed");
    }
    crc = static_cast<std::uint32_t>(crc32(0, in.data(), static_cast<uInt>(in.size())));
    out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 64);
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(in.size());
    std::size_t have = 0;
    for (;;) {
      z.next_out = out.data() + have;
      z.avail_out = static_cast<uInt>(out.size() - have);
      int rc = deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH);
      if (rc == Z_STREAM_ERROR) throw Error(ErrorKind::operational, "gzip failed");
      have = out.size() - z.avail_out;
      if (last ? rc == Z_STREAM_END : (z.avail_in == 0 && z.avail_out != 0)) break;
      out.resize(out.size() * 2);
    }
    out.resize(have);
  }
};

ParallelGzip::ParallelGzip(ByteSink& out, unsigned threads, std::size_t block, int level)
    : m_out(out), m_block(block), m_level(level) {
  if (block < k_window) throw Error(ErrorKind::operational, "gzip block size below 32 KiB");
  // Capped so that memory (about 2 blocks per job in flight) stays well below 64 MiB on big machines.
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, k_max_auto_threads);
  m_max_in_flight = static_cast<std::size_t>(threads) + 2; // every worker busy, one block ready, one filling
  m_current.reserve(m_block);
  // gzip header: deflate, no flags, mtime 0, XFL as zlib sets it, OS 3 (Unix).
  const unsigned char xfl = level == 1 ? 4 : level == 9 ? 2 : 0;
  const std::array<unsigned char, 10> header{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3};
  m_out.write(header.data(), header.size());
  m_bytes_out = header.size();
  for (unsigned i = 0; i < threads; ++i)
    m_workers.emplace_back([this] { work(); });
}

ParallelGzip::~ParallelGzip() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_work_cv.notify_all();
  for (auto& t : m_workers)
    t.join();
}

void ParallelGzip::work() {
  std::unique_ptr<Deflater> deflater;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(m_mutex);
      m_work_cv.wait(lock, [&] { return m_stop || !m_queue.empty(); });
      if (m_stop) return;
      job = std::move(m_queue.front());
      m_queue.pop_front();
    }
    try {
      if (!deflater) deflater = std::make_unique<Deflater>(m_level);
      job->run(*deflater);
    } catch (...) {
      job->error = std::current_exception();
    }
    {
      std::lock_guard lock(m_mutex);
      job->done = true;
    }
    m_done_cv.notify_all();
  }
}

void ParallelGzip::write(const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size) {
    std::size_t n = std::min(size, m_block - m_current.size());
    m_current.insert(m_current.end(), p, p + n);
    p += n;
    size -= n;
    if (m_current.size() == m_block) submit(false);
  }
}

void ParallelGzip::submit(bool last) {
  while (m_in_order.size() >= m_max_in_flight)
    emit_front();
  std::shared_ptr<Job> job;
  if (m_spare.empty()) {
    job = std::make_shared<Job>();
  } else {
    job = std::move(m_spare.back());
    m_spare.pop_back();
  }
  job->in.swap(m_current);
  m_current.clear();
  m_current.reserve(m_block);
  job->dict = m_tail;
  job->last = last;
  job->done = false;
  job->error = nullptr;
  // The next block's dictionary: the end of this one (blocks are >= 32 KiB).
  std::size_t keep = std::min(job->in.size(), k_window);
  m_tail.assign(job->in.end() - static_cast<std::ptrdiff_t>(keep), job->in.end());
  m_in_order.push_back(job);
  {
    std::lock_guard lock(m_mutex);
    m_queue.push_back(std::move(job));
  }
  m_work_cv.notify_one();
}

void ParallelGzip::emit_front() {
  std::shared_ptr<Job> job = std::move(m_in_order.front());
  m_in_order.pop_front();
  {
    std::unique_lock lock(m_mutex);
    m_done_cv.wait(lock, [&] { return job->done; });
  }
  if (job->error) std::rethrow_exception(job->error);
  m_out.write(job->out.data(), job->out.size());
  m_bytes_out += job->out.size();
  m_crc = static_cast<std::uint32_t>(crc32_combine(m_crc, job->crc, static_cast<z_off_t>(job->in.size())));
  m_bytes_in += job->in.size();
  m_spare.push_back(std::move(job));
}

void ParallelGzip::finish() {
  if (m_finished) return;
  m_finished = true;
  submit(true);
  while (!m_in_order.empty())
    emit_front();
  std::array<unsigned char, 8> trailer{};
  put_le32(trailer.data(), m_crc);
  put_le32(trailer.data() + 4, static_cast<std::uint32_t>(m_bytes_in)); // ISIZE is the size mod 2^32
  m_out.write(trailer.data(), trailer.size());
  m_bytes_out += trailer.size();
  m_out.finish();
}

} // namespace mlops::oci
