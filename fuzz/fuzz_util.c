/* fuzz_util.c - see fuzz_util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"

static char path[64];
static int fd = -1;

static void cleanup(void)
{
    if (fd >= 0) unlink(path);
}

const char *fuzz_file(const void *data, size_t size)
{
    if (fd < 0) {
        snprintf(path, sizeof path, "%s/alig-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        fd = mkstemp(path);
        if (fd < 0) { perror("fuzz_file: mkstemp"); abort(); }
        atexit(cleanup);
    }
    if (ftruncate(fd, 0) != 0) { perror("fuzz_file: ftruncate"); abort(); }
    const unsigned char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, p + done, size - done, (off_t)done);
        if (w <= 0) { perror("fuzz_file: pwrite"); abort(); }
        done += (size_t)w;
    }
    return path;
}
