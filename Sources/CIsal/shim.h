// ISA-L igzip: the fast raw-deflate engine for the parallel gzip pipeline, its inflate, and its CRC-32.
#include <stdint.h>
#include <isa-l/igzip_lib.h>
#include <isa-l/crc.h>

// The level-buffer sizes are multi-term macros Swift cannot import; this hands them over.
// ISA-L's own default (the "LARGE" size) for levels 1...3, 0 for level 0 (needs none).
static inline uint32_t bale_isal_level_buf_size(uint32_t level) {
    switch (level) {
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    case 3: return ISAL_DEF_LVL3_DEFAULT;
    default: return 0;
    }
}
