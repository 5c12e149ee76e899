/* libFuzzer driver of the jtl_csv import (mortar/import.h, docs/import.md): fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_import(MT_IMP_JTL_CSV, data, size);
}
