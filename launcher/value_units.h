// Units of profile values (bytes, nanoseconds, ...) and how pprof scales and
// prints them, so that `ppagent top` prints what `go tool pprof` prints and
// -tagfocus ranges compare as pprof compares them.
#pragma once

#include <stdint.h>

#include <string>

namespace ppagent::profile {

struct Scaled {
  double value = 0;
  std::string unit;  // canonical ("kB", "ms", ...), or "" for plain counts
};

// Converts `value`, in `from_unit`, to `to_unit`: a unit name or alias of the
// same family (bytes: B kB MB GB TB PB, 1024 apart; time: ns us ms s hrs; or
// pprof's GCU family), or "auto"/"minimum" for the largest unit that keeps the
// value at least 1. A unit outside those families is left as it is (and
// "count", "sample", "unit" print as nothing), as pprof does.
Scaled scale(int64_t value, const std::string& from_unit, const std::string& to_unit);

// pprof's printed form of a value: scaled to `to_unit` (by default the best
// unit for this value), two decimals with a trailing ".00" dropped, and the
// unit appended ("1.50MB", "10ms", "0").
std::string format_value(int64_t value, const std::string& unit,
                         const std::string& to_unit = "auto");

// pprof's printed form of a share: "  100%", "12.34%", or two significant
// digits below 1% (" 0.12%", "0.0012%").
std::string format_percentage(int64_t value, int64_t total);

}  // namespace ppagent::profile
