/* dist.h - the one place that talks to MPI (OpenMPI: https://www.open-mpi.org/doc/).
 *
 * Built with MPI when CMake finds it (ALIG_HAVE_MPI defined), otherwise as a single-process
 * stand-in with the same functions: rank 0 of 1, no messages. Nothing outside dist/ includes
 * <mpi.h>, so the rest of the project builds and runs the same without MPI.
 *
 * Today's users: `alig sweep` shards cells over ranks (each rank runs cells i with
 * i mod size == rank and sends each result to rank 0, which writes the summary); `alig train`
 * shares every mini-batch over ranks (dist_train.h: the loop's reduce and agree hooks over the
 * allreduce functions below). Functions return
 * 0 on success and -1 on failure with one line in `err` (when given); they never print or exit. */
#ifndef ALIG_DIST_H
#define ALIG_DIST_H

#include <stddef.h>

/** 1 if this build has MPI, else 0. */
int alig_dist_built_with_mpi(void);

/** Size of the job the process was launched in by mpirun/mpiexec (from the launcher's environment:
 *  OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_SIZE), 1 when started on its own. */
int alig_dist_launcher_size(void);

/**
 * Join the MPI job when launched by mpirun (MPI_Init); a process started on its own stays a job
 * of one without initialising MPI. Without MPI in the build, a launch by mpirun with more than one
 * process is an error (every process would believe it is alone).
 * @return 0, or -1 with the reason in err.
 */
int alig_dist_init(int *argc, char ***argv, char *err, size_t errlen);

/** 1 when the environment entry "NAME=VALUE" is one of the launcher's (OMPI_*, PMIX_*, PMI_*,
 *  MPI_LOCAL*): what a child that must not join the job leaves out of its environment. */
int alig_dist_launcher_var(const char *entry);

/** This process's rank (0 when alone) and the number of processes (1 when alone). */
int alig_dist_rank(void);
int alig_dist_size(void);

/** Blocking send of `len` bytes to rank `dest` with a tag >= 0. @return 0 or -1. */
int alig_dist_send(int dest, int tag, const void *buf, size_t len, char *err, size_t errlen);

/**
 * Receive one pending message from any rank without blocking.
 * @param cap  capacity of buf; a longer message is an error.
 * @return 1 and fills *src, *tag, *len when a message was received; 0 when none is pending; -1 on error.
 */
int alig_dist_poll(void *buf, size_t cap, int *src, int *tag, size_t *len, char *err, size_t errlen);

/** In-place sum over every rank of buf[0..n) in double (MPI_Allreduce, MPI_SUM; the order of the
 *  additions is MPI's: the same on every rank of one job). Alone: nothing to do. @return 0 or -1. */
int alig_dist_allreduce_sum(double *buf, size_t n, char *err, size_t errlen);

/** In-place maximum over every rank of buf[0..n) (exact). Alone: nothing to do. @return 0 or -1. */
int alig_dist_allreduce_max_u64(unsigned long long *buf, size_t n, char *err, size_t errlen);

/** Wait for every rank. @return 0 or -1. */
int alig_dist_barrier(char *err, size_t errlen);

/** Leave the job (MPI_Finalize when initialised). Safe to call twice. */
void alig_dist_finalize(void);

/** End every process of the job with `code` (MPI_Abort; exit(code) when alone). Does not return. */
void alig_dist_abort(int code);

#endif
