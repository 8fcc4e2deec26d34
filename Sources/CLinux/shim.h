// Linux calls that Swift's Glibc module does not import. It is built without _GNU_SOURCE, so neither
// sync_file_range(2) nor <sys/xattr.h> is visible through it.
#include <sys/types.h>
#include <sys/xattr.h>

// Starts (SYNC_FILE_RANGE_WRITE) or waits for writeback of a byte range of a file. The declaration is
// glibc's own, which <fcntl.h> gives only under _GNU_SOURCE; the flag values are its, from the kernel ABI.
extern int sync_file_range(int fd, __off64_t offset, __off64_t count, unsigned int flags);
#define BALE_SYNC_FILE_RANGE_WRITE 2
