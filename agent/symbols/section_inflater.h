// One zlib-compressed section, inflated in place as far as it is needed and
// no further: the stream's state is kept to go on later.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ppagent {

class SectionInflater {
 public:
  SectionInflater() = default;
  ~SectionInflater();
  SectionInflater(const SectionInflater&) = delete;
  SectionInflater& operator=(const SectionInflater&) = delete;

  // The zlib stream [in, in + in_size) inflates to out_size bytes at `out`.
  bool start(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size);
  // Inflates until at least `end` bytes are out (all of them when `end` is
  // past the end). False when the stream is corrupt or ends short of `end`.
  // Output is not read again once out (zlib keeps its own window): the
  // caller may let go of what lies behind done() between calls.
  bool inflate_to(size_t end);

  // From now on, notes a place to go on from about every `spacing` bytes of
  // output (each keeps zlib's 32 KiB window), for resume_at.
  void keep_resume_points(size_t spacing) { spacing_ = spacing; }
  // Goes back to the last place noted at or before `offset` (the stream's
  // start when none): done() is then that place, and inflate_to writes the
  // output from there again, as it was. False when zlib refuses.
  bool resume_at(size_t offset);
  size_t done() const { return done_; }
  size_t size() const { return out_size_; }

 private:
  struct ResumePoint {
    size_t out, in;  // bytes out and in (of the raw stream) at a block boundary
    int bits;        // of the last byte in, not yet used
    std::vector<uint8_t> window;  // the output's last 32 KiB
  };
  void note_resume_point();

  z_stream stream_{};
  bool active_ = false;
  const uint8_t* in_ = nullptr;  // the raw deflate stream, past the zlib header
  size_t in_size_ = 0;
  uint8_t* out_ = nullptr;
  size_t out_size_ = 0, done_ = 0;
  size_t spacing_ = 0;
  std::vector<ResumePoint> points_;  // by out
};

}  // namespace ppagent
