#define _GNU_SOURCE
#include "CSystemShims.h"
// <stdlib.h> first: it brings <features.h>, which defines __GLIBC__ (<stddef.h> is the compiler's
// and does not).
#include <stdlib.h>
#if defined(__linux__)
#include <unistd.h>
#include <sys/syscall.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

gonka_heap_stats gonka_heap_stats_read(void) {
    gonka_heap_stats stats = {0, 0, 0, 0};
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    stats.in_use = info.uordblks;
    stats.mmapped = info.hblkhd;
    stats.free = info.fordblks;
    stats.available = 1;
#endif
    return stats;
}

int gonka_heap_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int gonka_heap_limit_arenas(int count) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}

long gonka_thread_id(void) {
#if defined(__linux__)
    return (long)syscall(SYS_gettid);
#else
    return 0;
#endif
}
