/* fuzz_util.h - the readers under test take a path, so each harness writes its input to one
 * private temporary file (in /dev/shm when it exists), created once per process. */
#ifndef ALIG_FUZZ_UTIL_H
#define ALIG_FUZZ_UTIL_H
#include <stddef.h>

/** Replace the content of the process's temporary file with data[0..size) and return its path
 *  (aborts if the file cannot be written: a broken harness, not a finding). */
const char *fuzz_file(const void *data, size_t size);

#endif
