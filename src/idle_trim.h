/* idle_trim.h - gives freed heap memory back to the system once a loop has been idle a while. */
#ifndef ECHOSVC_IDLE_TRIM_H
#define ECHOSVC_IDLE_TRIM_H

#include "loop.h"

/* How long a loop must have had nothing to do before the trim. */
#define IDLE_TRIM_MS 1000

struct idle_trim;

/*
 * Watches loop: once it has done nothing for between one and two
 * IDLE_TRIM_MS, before_trim(arg) lets go of caches (may be NULL), then
 * malloc_trim() returns the free pages of every heap to the
 * system (a burst's client connections and parked calls leave megabytes free
 * but resident, between chunks still in use, where glibc's own trimming of a
 * heap's top never reaches). Once per busy-to-idle change: an idle loop is
 * not woken again, and a busy one pays one timer a second. NULL when out of
 * memory or the loop's hook table is full. The loop's thread only.
 */
typedef void idle_trim_hook(void *arg);

struct idle_trim *idle_trim_new(struct loop *loop, idle_trim_hook *before_trim, void *arg);

/* Takes its hook out of the loop and frees; not from inside a hook; NULL
 * is allowed. */
void idle_trim_free(struct idle_trim *trim);

#endif
