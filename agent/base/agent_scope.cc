#include "base/agent_scope.h"

namespace ppagent {

__thread bool t_in_agent __attribute__((tls_model("initial-exec")));

}  // namespace ppagent
