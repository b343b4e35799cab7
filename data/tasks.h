/* tasks.h - private to data/: the rows of the task table. A new task adds one file with its
 * row, one line here and one entry in alig_task_types (task.c). */
#ifndef ALIG_DATA_TASKS_H
#define ALIG_DATA_TASKS_H

#include "alig/task.h"

extern const alig_task_type alig_task_row_image;          /* task.c */
extern const alig_task_type alig_task_row_repeat_copy;    /* repeat_copy.c */

#endif
