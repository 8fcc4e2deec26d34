// liblzma: the multithreaded xz encoder.
#include <lzma.h>
