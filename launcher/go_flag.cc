#include "go_flag.h"

namespace ppagent {

bool parse_go_flag(const std::string& arg, GoFlag* out) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  const std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
  const size_t equals = body.find('=');
  out->name = body.substr(0, equals);
  out->has_value = equals != std::string::npos;
  out->value = out->has_value ? body.substr(equals + 1) : std::string();
  return true;
}

}  // namespace ppagent
