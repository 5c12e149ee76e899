/* libFuzzer driver of the phout import (mortar/import.h, docs/import.md): fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_import(MT_IMP_PHOUT, data, size);
}
