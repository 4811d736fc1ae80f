// The C allocator's own count of the heap (glibc's mallinfo2, which Swift's Glibc module does not
// import): what ProcessMemory exports so a growing RSS can be told apart into live objects and
// free chunks the allocator keeps (issue 23).
#ifndef CHEAPSTATS_H
#define CHEAPSTATS_H
#include <stddef.h>

typedef struct {
    /// Bytes in allocated chunks of the arenas (uordblks).
    size_t in_use;
    /// Bytes of allocations mmapped on their own (hblkhd): large buffers, such as the KV caches,
    /// whose pages count in RSS only once touched.
    size_t mmapped;
    /// Bytes in free chunks the arenas keep (fordblks).
    size_t free;
    /// 0 where the allocator gives no figures (not glibc).
    int available;
} gonka_heap_stats;

gonka_heap_stats gonka_heap_stats_read(void);

#endif
