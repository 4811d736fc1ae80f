// The few system calls Swift's Glibc module does not import (they need _GNU_SOURCE or <malloc.h>).
#ifndef CSYSTEMSHIMS_H
#define CSYSTEMSHIMS_H
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

/// The C allocator's own count of the heap (glibc's mallinfo2): what ProcessMemory exports so a
/// growing RSS can be told apart into live objects and free chunks the allocator keeps (issue 23).
gonka_heap_stats gonka_heap_stats_read(void);

/// Gives the free pages the C allocator keeps in its arenas back to the kernel (glibc's
/// malloc_trim(0), which also releases whole free pages inside the arenas, not only at their top).
/// 1 when memory was released; 0 when none was, or where the allocator is not glibc.
int gonka_heap_trim(void);

/// glibc's `mallopt(M_ARENA_MAX, count)`: at most `count` malloc arenas from now on; 1 when set
/// (0 elsewhere, or on failure).
int gonka_heap_limit_arenas(int count);

/// The calling thread's kernel id (Linux gettid; 0 elsewhere): setpriority takes it to give one
/// thread its own nice value (ThreadPriority).
long gonka_thread_id(void);

#endif
