// libarchive: every tar read and write, and whole-archive (de)compression filters.
#include <archive.h>
#include <archive_entry.h>
// Extended attributes (lgetxattr, fsetxattr, lsetxattr), which tar members carry as PAX SCHILY.xattr
// records: Swift's Glibc module does not import this header. Used only by BaleIO's ExtendedAttributes.
#include <sys/xattr.h>
