// ISA-L igzip: the fast raw-deflate engine for the parallel gzip pipeline, its inflate, and its CRC-32.
#include <stdint.h>
#include <isa-l/igzip_lib.h>
#include <isa-l/crc.h>

// The level-buffer sizes are multi-term macros Swift cannot import; this hands them over.
// ISA-L's own default (the "LARGE" size) for levels 1 and 2, 0 for level 0 (needs none). Level 3 gets
// the "SMALL" size (16 Ki tokens): its portable match finder (see DeflateIsal.swift) then ends a
// Huffman block, and adapts its codes, four times as often, which made `make bench`'s layer 0.7 %
// smaller (1.082 → 1.075 × gzip -6) at the same speed. The size is part of what fixes the bytes.
static inline uint32_t bale_isal_level_buf_size(uint32_t level) {
    switch (level) {
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    case 3: return ISAL_DEF_LVL3_SMALL;
    default: return 0;
    }
}

// ISA-L's portable (C, baseline x86-64) variants of the deflate functions that choose matches, which it
// otherwise picks by CPU at run time. libisal.so exports them but its headers do not declare them;
// DeflateIsal.swift pins the dispatchers to them so every CPU writes the same bytes. Signatures as in
// ISA-L 2.30's igzip sources.
#if defined(__x86_64__)
struct deflate_icf;
void isal_deflate_body_base(struct isal_zstream *stream);
void isal_deflate_finish_base(struct isal_zstream *stream);
void isal_deflate_icf_body_hash_hist_base(struct isal_zstream *stream);
void isal_deflate_icf_finish_hash_hist_base(struct isal_zstream *stream);
void icf_body_hash1_fillgreedy_lazy(struct isal_zstream *stream);
void isal_deflate_icf_finish_hash_map_base(struct isal_zstream *stream);
void isal_deflate_hash_base(uint16_t *hash_table, uint32_t hash_mask, uint32_t current_index,
                            uint8_t *dict, uint32_t dict_len);
uint64_t gen_icf_map_h1_base(struct isal_zstream *stream, struct deflate_icf *matches, uint64_t input_size);
void set_long_icf_fg_base(uint8_t *next_in, uint64_t processed, uint64_t input_size,
                          struct deflate_icf *match_lookup);
#endif
