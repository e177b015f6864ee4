// One zlib-compressed section, inflated in place as far as it is needed and
// no further: the stream's state is kept to go on later.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>

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
  bool inflate_to(size_t end);
  size_t done() const { return done_; }
  size_t size() const { return out_size_; }

 private:
  z_stream stream_{};
  bool active_ = false;
  uint8_t* out_ = nullptr;
  size_t out_size_ = 0, done_ = 0;
};

}  // namespace ppagent
