// glibc's allocator statistics (mallinfo2), for the service's memory metrics.
#include <malloc.h>
