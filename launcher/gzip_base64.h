// Text packed for embedding in a web page: gzip-compressed (which the browser's
// DecompressionStream("gzip") inflates), then base64-encoded.
#pragma once

#include <string>
#include <string_view>

namespace ppagent {

// Empty only if zlib fails (out of memory).
std::string gzip_base64(std::string_view text);

}  // namespace ppagent
