#include "symbols/section_inflater.h"

#include <algorithm>
#include <climits>

namespace ppagent {

namespace {

// Each call inflates at least this much more: a lookup usually needs a
// little more than the last, and each inflate() call has a fixed cost.
constexpr size_t kMinStep = 64 * 1024;

}  // namespace

SectionInflater::~SectionInflater() {
  if (active_) inflateEnd(&stream_);
}

bool SectionInflater::start(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size) {
  // The zlib header (RFC 1950): deflate, no preset dictionary. The stream
  // behind it is inflated raw, without the Adler-32 check that zlib would
  // otherwise run over every byte (a sixth of the work, measured with
  // callgrind on libc6-dbg's sections); a corrupt section still fails to
  // inflate or fails DWARF's own checks.
  if (in_size < 2 || in_size - 2 > UINT_MAX) return false;
  if ((in[0] & 0x0f) != Z_DEFLATED || (in[1] & 0x20) != 0 || ((in[0] << 8) | in[1]) % 31 != 0)
    return false;
  stream_.next_in = const_cast<Bytef*>(in + 2);
  stream_.avail_in = static_cast<uInt>(in_size - 2);
  if (inflateInit2(&stream_, -MAX_WBITS) != Z_OK) return false;
  active_ = true;
  out_ = out;
  out_size_ = out_size;
  return true;
}

bool SectionInflater::inflate_to(size_t end) {
  end = std::min(end, out_size_);
  if (done_ >= end) return true;
  if (!active_) return false;  // ended or failed earlier
  const size_t target = std::min(out_size_, std::max(end, done_ + kMinStep));
  while (done_ < target) {
    const size_t chunk = std::min<size_t>(target - done_, UINT_MAX);
    stream_.next_out = out_ + done_;
    stream_.avail_out = static_cast<uInt>(chunk);
    int status = inflate(&stream_, Z_NO_FLUSH);
    done_ += chunk - stream_.avail_out;
    if (status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR) ||
        (status == Z_BUF_ERROR && stream_.avail_out != 0)) {
      // Finished (its window and state are not needed any more), or corrupt.
      inflateEnd(&stream_);
      active_ = false;
      break;
    }
  }
  return done_ >= end;
}

}  // namespace ppagent
