/* libFuzzer driver of the k6 import (mortar/import.h, docs/import.md): fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_import(MT_IMP_K6, data, size);
}
