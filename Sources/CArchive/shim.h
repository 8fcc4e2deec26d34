// libarchive: every tar read and write, and whole-archive (de)compression filters.
#include <archive.h>
#include <archive_entry.h>
