/* dist.c - MPI behind dist.h, or a single-process stand-in when the build has no MPI.
 *
 * MPI is initialised only under a launcher: a plain `alig sweep` never pays for MPI_Init (which in
 * OpenMPI's singleton mode may start a helper daemon), and a build with MPI behaves exactly like
 * one without when run alone. Cells are run as child processes, so the rank that forks them only
 * needs MPI_THREAD_SINGLE. */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ALIG_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_init = 0;

int alig_dist_built_with_mpi(void)
{
#ifdef ALIG_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int alig_dist_launcher_size(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", NULL };
    for (size_t i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            long n = strtol(v, NULL, 10);
            if (n >= 1 && n < 1000000) return (int)n;
        }
    }
    return 1;
}

static void set_err(char *err, size_t len, const char *what, int code)
{
    if (!err || !len) return;
#ifdef ALIG_HAVE_MPI
    char msg[MPI_MAX_ERROR_STRING] = "";
    int n = 0;
    if (code) MPI_Error_string(code, msg, &n);
    snprintf(err, len, "%s failed%s%s", what, code ? ": " : "", msg);
#else
    (void)code;
    snprintf(err, len, "%s", what);
#endif
}

int alig_dist_init(int *argc, char ***argv, char *err, size_t errlen)
{
    if (g_init) return 0;
    const int launched = alig_dist_launcher_size();
#ifdef ALIG_HAVE_MPI
    const int under_launcher = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") ||
                               getenv("PMI_RANK");
    if (!under_launcher) return 0;
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) {
        set_err(err, errlen, "MPI_Init", rc);
        return -1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_init = 1;
    (void)launched;
    return 0;
#else
    (void)argc;
    (void)argv;
    if (launched > 1) {
        if (err && errlen)
            snprintf(err, errlen, "launched as one of %d MPI processes, but this alig was built without MPI "
                     "(install libopenmpi-dev and rebuild)", launched);
        return -1;
    }
    return 0;
#endif
}

extern char **environ;

static const char *const launcher_prefixes[] = { "OMPI_", "PMIX_", "PMI_", "MPI_LOCAL", NULL };

int alig_dist_launcher_var(const char *entry)
{
    for (size_t i = 0; entry && launcher_prefixes[i]; i++)
        if (!strncmp(entry, launcher_prefixes[i], strlen(launcher_prefixes[i]))) return 1;
    return 0;
}

int alig_dist_rank(void) { return g_rank; }
int alig_dist_size(void) { return g_size; }

int alig_dist_send(int dest, int tag, const void *buf, size_t len, char *err, size_t errlen)
{
#ifdef ALIG_HAVE_MPI
    if (!g_init || dest < 0 || dest >= g_size || len > (size_t)1 << 30) {
        set_err(err, errlen, "alig_dist_send: no such rank or message too long", 0);
        return -1;
    }
    int rc = MPI_Send(buf, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        set_err(err, errlen, "MPI_Send", rc);
        return -1;
    }
    return 0;
#else
    (void)dest;
    (void)tag;
    (void)buf;
    (void)len;
    set_err(err, errlen, "alig_dist_send: no other process in a build without MPI", 0);
    return -1;
#endif
}

int alig_dist_poll(void *buf, size_t cap, int *src, int *tag, size_t *len, char *err, size_t errlen)
{
#ifdef ALIG_HAVE_MPI
    if (!g_init) return 0;
    int flag = 0;
    MPI_Status s;
    int rc = MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &s);
    if (rc != MPI_SUCCESS) {
        set_err(err, errlen, "MPI_Iprobe", rc);
        return -1;
    }
    if (!flag) return 0;
    int count = 0;
    MPI_Get_count(&s, MPI_BYTE, &count);
    if (count < 0 || (size_t)count > cap) {
        set_err(err, errlen, "alig_dist_poll: message longer than the buffer", 0);
        return -1;
    }
    rc = MPI_Recv(buf, count, MPI_BYTE, s.MPI_SOURCE, s.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        set_err(err, errlen, "MPI_Recv", rc);
        return -1;
    }
    *src = s.MPI_SOURCE;
    *tag = s.MPI_TAG;
    *len = (size_t)count;
    return 1;
#else
    (void)buf;
    (void)cap;
    (void)src;
    (void)tag;
    (void)len;
    (void)err;
    (void)errlen;
    return 0;
#endif
}

/* MPI counts are ints: longer buffers go in chunks (each element is reduced on its own, so chunking
 * changes nothing in the result). */
#define DIST_CHUNK ((size_t)1 << 28)

#ifdef ALIG_HAVE_MPI
/* In-place allreduce of n elements of `size` bytes, in chunks that MPI's int counts can hold. */
static int allreduce(void *buf, size_t n, size_t size, MPI_Datatype type, MPI_Op op, const char *what, char *err,
                     size_t errlen)
{
    if (!g_init || g_size == 1) return 0;
    for (size_t i = 0; i < n; i += DIST_CHUNK) {
        const size_t m = n - i < DIST_CHUNK ? n - i : DIST_CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + i * size, (int)m, type, op, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            set_err(err, errlen, what, rc);
            return -1;
        }
    }
    return 0;
}
#endif

int alig_dist_allreduce_sum(double *buf, size_t n, char *err, size_t errlen)
{
#ifdef ALIG_HAVE_MPI
    return allreduce(buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM, "MPI_Allreduce (sum)", err, errlen);
#else
    (void)buf;
    (void)n;
    (void)err;
    (void)errlen;
    return 0;
#endif
}

int alig_dist_allreduce_max_u64(unsigned long long *buf, size_t n, char *err, size_t errlen)
{
#ifdef ALIG_HAVE_MPI
    return allreduce(buf, n, sizeof *buf, MPI_UNSIGNED_LONG_LONG, MPI_MAX, "MPI_Allreduce (max)", err, errlen);
#else
    (void)buf;
    (void)n;
    (void)err;
    (void)errlen;
    return 0;
#endif
}

int alig_dist_barrier(char *err, size_t errlen)
{
#ifdef ALIG_HAVE_MPI
    if (!g_init) return 0;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        set_err(err, errlen, "MPI_Barrier", rc);
        return -1;
    }
#else
    (void)err;
    (void)errlen;
#endif
    return 0;
}

void alig_dist_finalize(void)
{
#ifdef ALIG_HAVE_MPI
    if (g_init) {
        MPI_Finalize();
        g_init = 0;
    }
#endif
}

void alig_dist_abort(int code)
{
#ifdef ALIG_HAVE_MPI
    if (g_init) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}
