/* Moved to src/runspec/readall.h (the run-spec layer reads --config files); this forwarder
 * keeps "cli/readall.h" includes building until they are updated. */
#include "runspec/readall.h"
