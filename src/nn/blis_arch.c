/* Which BLIS sub-configuration runs the GEMMs.
 *
 * BLIS picks its kernels from CPUID when it initialises and can pick badly: Debian's 0.9.0 does not know
 * the FMA-unit count of recent AVX-512 Xeons and falls back to 'haswell' (AVX2 kernels, about half the
 * sgemm speed). lr_blis_choose_arch runs before BLIS initialises: when the CPU has AVX-512 it measures a
 * 512³ sgemm with BLIS's own pick and with 'skx', each in a child process (BLIS reads BLIS_ARCH_TYPE once,
 * at initialisation), and exports BLIS_ARCH_TYPE for the faster. The answer is cached per host and CPU
 * model. A BLIS_ARCH_TYPE the user set is never changed. LESIONRANK_BLIS_CANDIDATES=name,name forces a
 * probe among the named sub-configurations (for tests and for sites that know their nodes). */
#include <blis.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nn/engine.h"

#define PROBE_N 512

static int arch_by_name(const char *name)
{
    for (int i = 0; i < BLIS_NUM_ARCHS; i++)
        if (!strcmp(bli_arch_string((arch_t)i), name)) return i;
    return -1;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* In a child: BLIS with sub-configuration arch (-1: its own pick); reports (arch in use, GFLOP/s).
 * A sub-configuration the CPU cannot run dies with SIGILL: reported as not available. */
static int probe(int arch, int *used, double *gflops)
{
    int fds[2];
    if (pipe(fds)) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        char v[16];
        snprintf(v, sizeof v, "%d", arch);
        if (arch >= 0) setenv("BLIS_ARCH_TYPE", v, 1);
        else unsetenv("BLIS_ARCH_TYPE");
        bli_init();
        bli_thread_set_num_threads(1);
        double result[2] = {(double)bli_arch_query_id(), 0.0};
        float *a = malloc(sizeof(float) * 3 * PROBE_N * PROBE_N);
        if (a) {
            float *b = a + PROBE_N * PROBE_N, *c = b + PROBE_N * PROBE_N, one = 1.0f, zero = 0.0f;
            for (size_t i = 0; i < 3 * (size_t)PROBE_N * PROBE_N; i++) a[i] = (float)(i % 97) * 0.01f - 0.4f;
            double best = 1e30;
            for (int rep = 0; rep < 5; rep++) {
                double t0 = seconds_now();
                bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, PROBE_N, PROBE_N, PROBE_N, &one, a, PROBE_N, 1, b,
                          PROBE_N, 1, &zero, c, PROBE_N, 1);
                double dt = seconds_now() - t0;
                if (rep > 0 && dt < best) best = dt;
            }
            result[1] = 2.0 * PROBE_N * PROBE_N * (double)PROBE_N / best * 1e-9;
        }
        ssize_t w = write(fds[1], result, sizeof result);
        _exit(w == sizeof result ? 0 : 1);
    }
    close(fds[1]);
    double result[2];
    ssize_t got = read(fds[0], result, sizeof result);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof result || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    *used = (int)result[0];
    *gflops = result[1];
    return 0;
}

/* Cache file for this host and CPU model ("" when no cache directory is usable). */
static void cache_path(char *out, size_t size)
{
    char dir[512], host[128] = "host";
    const char *env = getenv("LESIONRANK_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/lesionrank", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/lesionrank", home);
    else {
        out[0] = '\0';
        return;
    }
    gethostname(host, sizeof host - 1);
    /* the CPU model as the kernel names it: the same host name can come back on other hardware */
    unsigned long hash = 5381;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            for (const char *p = line; *p; p++) hash = hash * 33 + (unsigned char)*p;
            break;
        }
    if (f) fclose(f);
    const char *cand = getenv("LESIONRANK_BLIS_CANDIDATES");
    for (const char *p = cand ? cand : ""; *p; p++) hash = hash * 33 + (unsigned char)*p;
    if (snprintf(out, size, "%s/blis-arch-%s-%08lx", dir, host, hash & 0xffffffffUL) >= (int)size)
        out[0] = '\0'; /* a path too long for the buffer: no cache (the probe still runs) */
    /* mkdir -p of the cache directory (errors: no cache, the probe still runs) */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    if (mkdir(dir, 0755) && errno != EEXIST) out[0] = '\0';
}

static int read_cache(const char *path, int *arch, char *why, size_t size)
{
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    if (!f) return -1;
    char line[256];
    int ok = fgets(line, sizeof line, f) && sscanf(line, "%d", arch) == 1;
    fclose(f);
    if (!ok || *arch < 0 || *arch >= BLIS_NUM_ARCHS) return -1;
    line[strcspn(line, "\n")] = '\0';
    char *space = strchr(line, ' ');
    if (snprintf(why, size, "cached probe (%s): %s", path, space ? space + 1 : "") >= (int)size && size > 4)
        memcpy(why + size - 4, "...", 4); /* say that the message was cut */
    return 0;
}

static void write_cache(const char *path, int arch, const char *why)
{
    if (!path[0]) return;
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    int ok = fprintf(f, "%d %s\n", arch, why) > 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) unlink(tmp); /* ranks probing at once: the last rename wins, all equal */
}

static lr_blis_choice last_choice;

const lr_blis_choice *lr_blis_last_choice(void) { return &last_choice; }

int lr_blis_choose_arch(lr_blis_choice *out)
{
    lr_blis_choice c = {.arch = -1};
    const char *user = getenv("BLIS_ARCH_TYPE");
    if (user && *user) {
        snprintf(c.source, sizeof c.source, "BLIS_ARCH_TYPE=%s set by the user", user);
        goto done;
    }
    /* candidates: BLIS's own pick (index -1) plus skx on AVX-512 CPUs, or the forced list */
    int cand[8], n_cand = 0;
    const char *forced = getenv("LESIONRANK_BLIS_CANDIDATES");
    if (forced && *forced) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", forced);
        for (char *tok = strtok(buf, ","); tok && n_cand < 8; tok = strtok(NULL, ",")) {
            int id = arch_by_name(tok);
            if (id >= 0) cand[n_cand++] = id;
        }
    } else {
#if defined(__GNUC__) && defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
            cand[n_cand++] = arch_by_name("skx");
#endif
        if (n_cand == 0 || cand[0] < 0) {
            snprintf(c.source, sizeof c.source, "BLIS's own choice (no AVX-512: nothing to probe)");
            goto done;
        }
    }
    if (n_cand == 0) {
        snprintf(c.source, sizeof c.source, "BLIS's own choice (LESIONRANK_BLIS_CANDIDATES names none)");
        goto done;
    }
    char path[600], why[512];
    cache_path(path, sizeof path);
    int arch;
    if (read_cache(path, &arch, why, sizeof why) == 0) {
        c.arch = arch;
        snprintf(c.source, sizeof c.source, "%s", why);
        goto set;
    }
    int own = -1, best = -1;
    double own_gflops = 0.0, best_gflops = 0.0;
    if (probe(-1, &own, &own_gflops) == 0) best = own, best_gflops = own_gflops;
    char detail[160];
    int len = snprintf(detail, sizeof detail, "%s %.1f GFLOP/s (BLIS's pick)", own >= 0 ? bli_arch_string((arch_t)own) : "?",
                       own_gflops);
    for (int i = 0; i < n_cand; i++) {
        int used;
        double g;
        if (cand[i] == own) continue;
        if (probe(cand[i], &used, &g)) {
            len += snprintf(detail + len, sizeof detail - (size_t)len, ", %s unavailable", bli_arch_string((arch_t)cand[i]));
            continue;
        }
        len += snprintf(detail + len, sizeof detail - (size_t)len, ", %s %.1f GFLOP/s", bli_arch_string((arch_t)used), g);
        if (len >= (int)sizeof detail) len = (int)sizeof detail - 1;
        if (g > best_gflops * 1.05) best = used, best_gflops = g; /* switch only for a clear gain */
    }
    if (best < 0) {
        snprintf(c.source, sizeof c.source, "BLIS's own choice (the probe failed)");
        goto done;
    }
    c.arch = best;
    snprintf(c.source, sizeof c.source, "probe: %s", detail);
    write_cache(path, best, detail);
set:
    if (c.arch >= 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", c.arch);
        setenv("BLIS_ARCH_TYPE", v, 1);
    }
done:
    last_choice = c;
    if (out) *out = c;
    return 0;
}

const char *lr_blis_arch_in_use(void) { return bli_arch_string(bli_arch_query_id()); }
