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
  in_ = in + 2;
  in_size_ = in_size - 2;
  stream_.next_in = const_cast<Bytef*>(in_);
  stream_.avail_in = static_cast<uInt>(in_size_);
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
  // Z_BLOCK stops at every block boundary, where a resume point can be noted.
  const int flush = spacing_ > 0 ? Z_BLOCK : Z_NO_FLUSH;
  while (done_ < target) {
    const size_t chunk = std::min<size_t>(target - done_, UINT_MAX);
    stream_.next_out = out_ + done_;
    stream_.avail_out = static_cast<uInt>(chunk);
    int status = inflate(&stream_, flush);
    done_ += chunk - stream_.avail_out;
    // Bit 7: at the end of a block; bit 6: the last block's.
    if (spacing_ > 0 && status == Z_OK && (stream_.data_type & 128) && !(stream_.data_type & 64) &&
        done_ >= (points_.empty() ? 0 : points_.back().out) + spacing_)
      note_resume_point();
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

void SectionInflater::note_resume_point() {
  ResumePoint p;
  p.out = done_;
  p.in = static_cast<size_t>(stream_.next_in - in_);
  p.bits = stream_.data_type & 7;
  // zlib's own copy of the last 32 KiB out: the output behind done() may
  // have been let go already.
  p.window.resize(32 * 1024);
  uInt window = 0;
  if (inflateGetDictionary(&stream_, p.window.data(), &window) != Z_OK) return;
  p.window.resize(window);
  points_.push_back(std::move(p));
}

// As zlib's examples/zran.c: a raw inflater, primed with the bits of the
// last byte not yet used, with the window as its dictionary.
bool SectionInflater::resume_at(size_t offset) {
  if (in_ == nullptr) return false;
  const ResumePoint* from = nullptr;
  for (const ResumePoint& p : points_)
    if (p.out <= offset) from = &p;
  if (active_) inflateEnd(&stream_);
  active_ = false;
  stream_ = z_stream{};
  if (inflateInit2(&stream_, -MAX_WBITS) != Z_OK) return false;
  active_ = true;
  const size_t in_at = from ? from->in : 0;
  stream_.next_in = const_cast<Bytef*>(in_ + in_at);
  stream_.avail_in = static_cast<uInt>(in_size_ - in_at);
  done_ = from ? from->out : 0;
  if (from == nullptr) return true;
  if ((from->bits != 0 &&
       inflatePrime(&stream_, from->bits, in_[from->in - 1] >> (8 - from->bits)) != Z_OK) ||
      inflateSetDictionary(&stream_, from->window.data(),
                           static_cast<uInt>(from->window.size())) != Z_OK) {
    inflateEnd(&stream_);
    active_ = false;
    return false;
  }
  return true;
}

}  // namespace ppagent
