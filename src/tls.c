/* tls.c: see tls.h. */
#include "tls.h"

__thread tsd_t hm_tsd __attribute__((tls_model("initial-exec")));
