// zlib: raw deflate for the parallel gzip pipeline, crc32_combine, inflate.
#include <zlib.h>
