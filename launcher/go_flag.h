// Options in Go's flag syntax, as `go tool pprof` takes them (so `ppagent top`
// and `ppagent flame` take them so too): -name or --name, then =VALUE attached
// or VALUE as the next argument.
#pragma once

#include <string>

namespace ppagent {

struct GoFlag {
  std::string name;
  std::string value;       // what followed '=', when attached
  bool has_value = false;  // whether '=' was there
};

// False when `arg` is not an option (no leading '-', or '-' alone): an operand.
bool parse_go_flag(const std::string& arg, GoFlag* out);

}  // namespace ppagent
