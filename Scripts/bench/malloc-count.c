/*
 * malloc-count.c — LD_PRELOAD library that counts heap allocations of a process.
 *
 * Used by Scripts/bench/switch-bench.sh to measure allocations per frame on a switch's
 * data path: the script reads the counters, pushes N frames through the switch, reads
 * them again; (delta) / N is the figure. Works for C (vde_switch) and Swift (f2f-switch:
 * the Swift runtime allocates through malloc/posix_memalign/aligned_alloc of libc).
 *
 *   gcc -shared -fPIC -O2 -o malloc-count.so malloc-count.c -ldl
 *   MALLOC_COUNT_FILE=/tmp/counts LD_PRELOAD=$PWD/malloc-count.so PROGRAM ...
 *   kill -USR1 PID        # → /tmp/counts, written atomically (tmp file + rename)
 *
 * Counted (each call, whatever the size, failures included): malloc, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc; free separately.
 * The dump lists every counter plus "total" (all allocating calls, not free).
 * Without MALLOC_COUNT_FILE the dump goes to stderr.
 *
 * Care points:
 *  - The real functions come from dlsym(RTLD_NEXT). glibc's dlsym may itself call
 *    calloc/malloc (dlerror state) before the real pointers are known: those calls are
 *    served from a small static arena (bump allocator, never reused). free() and
 *    realloc() recognise arena pointers.
 *  - SIGUSR1 handler: only async-signal-safe calls (open, write, close, rename), numbers
 *    formatted by hand, errno preserved. Counters are C11 atomics (relaxed: they are only
 *    ever added to; the dump happens long after the traffic it measures).
 *  - Programs may claim SIGUSR1 for themselves: Debian's vde_switch sets it to SIG_IGN at
 *    start-up, which would silence the dump. So sigaction()/signal() calls that try to
 *    change SIGUSR1 are swallowed (they succeed and report our handler as the old one).
 *    Neither switch uses SIGUSR1 for anything else. A program that blocks SIGUSR1 with
 *    sigprocmask is not handled: the dump never appears and the script reports NA.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>   /* rename */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ counters */
enum { C_MALLOC, C_CALLOC, C_REALLOC, C_REALLOCARRAY, C_POSIX_MEMALIGN, C_ALIGNED_ALLOC,
       C_MEMALIGN, C_VALLOC, C_PVALLOC, C_FREE, C_COUNT };
static const char *const counter_names[C_COUNT] = {
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "free",
};
static atomic_ulong counters[C_COUNT];

static inline void count(int which) {
    atomic_fetch_add_explicit(&counters[which], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ real functions */
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_reallocarray)(void *, size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static void (*real_free)(void *);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

/* 0 = not resolved, 1 = dlsym in progress (allocations go to the arena), 2 = done. */
static atomic_int resolve_state;

static void resolve(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&resolve_state, &expected, 1))
        return;  /* done, or in progress: the caller falls back to the arena meanwhile */
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_reallocarray = dlsym(RTLD_NEXT, "reallocarray");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_valloc = dlsym(RTLD_NEXT, "valloc");
    real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    atomic_store(&resolve_state, 2);
}

/* True once the real allocator can be used; resolves on first use. */
static inline int ready(void) {
    if (atomic_load_explicit(&resolve_state, memory_order_acquire) == 2) return 1;
    resolve();
    return atomic_load_explicit(&resolve_state, memory_order_acquire) == 2;
}

/* ------------------------------------------------------------------ bootstrap arena
 * Only used while dlsym runs (a few small callocs). Each block has a 16-byte header with
 * its size so realloc can copy it out. Never freed: it is a few hundred bytes at most. */
#define ARENA_SIZE (64 * 1024)
static _Alignas(64) unsigned char arena[ARENA_SIZE];
static atomic_size_t arena_used;

static int in_arena(const void *p) {
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + ARENA_SIZE;
}

static void *arena_alloc(size_t size, size_t align) {
    if (align < 16) align = 16;
    size_t old = atomic_load(&arena_used), start, end;
    do {
        start = (old + 16 + align - 1) & ~(align - 1);   /* room for the header */
        end = start + size;
        if (end > ARENA_SIZE || end < start) { errno = ENOMEM; return NULL; }
    } while (!atomic_compare_exchange_weak(&arena_used, &old, end));
    *(size_t *)(arena + start - sizeof(size_t)) = size;
    return arena + start;   /* static storage: already zeroed, good for calloc */
}

static size_t arena_size_of(const void *p) {
    return *(const size_t *)((const unsigned char *)p - sizeof(size_t));
}

/* ------------------------------------------------------------------ interposed API */
void *malloc(size_t size) {
    count(C_MALLOC);
    return ready() ? real_malloc(size) : arena_alloc(size, 16);
}

void *calloc(size_t n, size_t size) {
    count(C_CALLOC);
    if (ready()) return real_calloc(n, size);
    if (size && n > SIZE_MAX / size) { errno = ENOMEM; return NULL; }
    return arena_alloc(n * size, 16);
}

void *realloc(void *p, size_t size) {
    count(C_REALLOC);
    if (!ready()) {
        void *q = arena_alloc(size, 16);
        if (q && p) memcpy(q, p, arena_size_of(p) < size ? arena_size_of(p) : size);
        return q;
    }
    if (p && in_arena(p)) {   /* move a bootstrap block to the real heap */
        void *q = real_malloc(size);
        if (q) memcpy(q, p, arena_size_of(p) < size ? arena_size_of(p) : size);
        return q;
    }
    return real_realloc(p, size);
}

void *reallocarray(void *p, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) { count(C_REALLOCARRAY); errno = ENOMEM; return NULL; }
    if (!ready() || (p && in_arena(p))) return realloc(p, n * size);  /* rare: counted as realloc */
    count(C_REALLOCARRAY);
    return real_reallocarray(p, n, size);
}

int posix_memalign(void **out, size_t align, size_t size) {
    count(C_POSIX_MEMALIGN);
    if (ready()) return real_posix_memalign(out, align, size);
    void *p = arena_alloc(size, align);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t size) {
    count(C_ALIGNED_ALLOC);
    return ready() ? real_aligned_alloc(align, size) : arena_alloc(size, align);
}

void *memalign(size_t align, size_t size) {
    count(C_MEMALIGN);
    return ready() ? real_memalign(align, size) : arena_alloc(size, align);
}

void *valloc(size_t size) {
    count(C_VALLOC);
    return ready() ? real_valloc(size) : arena_alloc(size, 4096);
}

void *pvalloc(size_t size) {
    count(C_PVALLOC);
    return ready() ? real_pvalloc(size) : arena_alloc((size + 4095) & ~(size_t)4095, 4096);
}

void free(void *p) {
    if (!p) return;            /* free(NULL) is common and allocates nothing: not counted */
    count(C_FREE);
    if (in_arena(p)) return;   /* bootstrap block: never reused */
    if (ready()) real_free(p);
    /* else: cannot happen (a non-arena pointer before resolution); leak rather than crash */
}

/* ------------------------------------------------------------------ SIGUSR1 dump */
static char dump_path[PATH_MAX];
static char dump_tmp[PATH_MAX];
static void on_usr1(int sig);

/* Append decimal v to buf at *len (async-signal-safe, no stdio). */
static void put_u(char *buf, size_t *len, unsigned long v) {
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) buf[(*len)++] = digits[--n];
}

static void put_s(char *buf, size_t *len, const char *s) {
    while (*s) buf[(*len)++] = *s++;
}

static void on_usr1(int sig) {
    (void)sig;
    int saved_errno = errno;
    char buf[512];
    size_t len = 0;
    unsigned long total = 0;
    for (int i = 0; i < C_COUNT; i++) {
        unsigned long v = atomic_load_explicit(&counters[i], memory_order_relaxed);
        if (i != C_FREE) total += v;
        put_s(buf, &len, counter_names[i]);
        buf[len++] = ' ';
        put_u(buf, &len, v);
        buf[len++] = '\n';
    }
    put_s(buf, &len, "total ");
    put_u(buf, &len, total);
    buf[len++] = '\n';

    if (dump_path[0]) {
        /* Write a temporary file and rename it: the reader never sees a partial dump. */
        int fd = open(dump_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, buf, len);
            close(fd);
            if (w == (ssize_t)len) rename(dump_tmp, dump_path);
        }
    } else {
        ssize_t w = write(2, buf, len);
        (void)w;
    }
    errno = saved_errno;
}

/* Keep our SIGUSR1 handler: report success without changing it (see header). */
int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact) {
    if (!real_sigaction) resolve();
    if (!real_sigaction) { errno = ENOSYS; return -1; }
    if (signum == SIGUSR1 && act) return real_sigaction(SIGUSR1, NULL, oldact);
    return real_sigaction(signum, act, oldact);
}

/* glibc's signal() calls its internal __sigaction, not ours: wrap it too. */
static sighandler_t set_handler(int signum, sighandler_t handler, int flags) {
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = flags;
    sigemptyset(&act.sa_mask);
    if (sigaction(signum, &act, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}
sighandler_t signal(int signum, sighandler_t handler) { return set_handler(signum, handler, SA_RESTART); }
sighandler_t bsd_signal(int signum, sighandler_t handler) { return set_handler(signum, handler, SA_RESTART); }
sighandler_t sysv_signal(int signum, sighandler_t handler) {
    return set_handler(signum, handler, SA_RESETHAND | SA_NODEFER);
}

__attribute__((constructor)) static void malloc_count_init(void) {
    resolve();
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path && *path && strlen(path) + 5 < sizeof dump_path) {
        strcpy(dump_path, path);
        strcpy(dump_tmp, path);
        strcat(dump_tmp, ".tmp");
    }
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_usr1;
    act.sa_flags = SA_RESTART;   /* the switches' blocking calls resume after a dump */
    sigemptyset(&act.sa_mask);
    if (real_sigaction) real_sigaction(SIGUSR1, &act, NULL);
}
