/* mhd_quirks.h - what differs between the libmicrohttpd versions echosvc knows (0.9.75, 1.0.x), in one place. */
#ifndef ECHOSVC_MHD_QUIRKS_H
#define ECHOSVC_MHD_QUIRKS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * echosvc runs on the libmicrohttpd of Debian 12 (0.9.75) and of Debian 13
 * (1.0.x). What depends on which one is loaded is decided here, from
 * MHD_VERSION (what the build saw) and MHD_get_version() (what runs), and
 * only through libmicrohttpd's public API. A version this module does not
 * know builds and runs on the safe path (every workaround on, the strictest
 * parser level the library offers) and one warning says so at start.
 *
 * Workarounds the rest of the server keeps on every version, because they
 * cost nothing where they are not needed (each is tested on the version
 * that needs it):
 *  - MHD_QUIRK_ANSWER_LATER: a request is answered on a later call of the
 *    access handler than the one that first sees its head; 0.9.75 closes a
 *    kept-alive connection when its answer is queued on that first call.
 *  - MHD_QUIRK_SUSPEND_LATER: a request parked during the first call with
 *    the whole request in is suspended on the next call of the same turn;
 *    0.9.75 resumes a connection with the event state it had when it was
 *    suspended and, when the client half-closed meanwhile, reads the end of
 *    the stream and closes without the answer.
 *  - MHD_QUIRK_POOL_ZEROED: each connection's memory pool (the head's room)
 *    is sized to what the contract needs and no more; 0.9.75 zeroes the
 *    whole pool after every request.
 */

/* Reads the running version once, before any daemon starts. Returns NULL,
 * or a warning to log once at start (a version this build does not know).
 * Not thread-safe: call from main's thread before the loops start. */
const char *mhd_quirks_init(void);

/* Whether the running library hides bytes of a head behind its C strings
 * (0.9.75, and a version not known): a NUL inside a line cuts what its API
 * gives at the NUL, and a folded line is joined to the one before; neither
 * shows but in the head's size, which request_head.c then checks. Libraries
 * whose parser can be made strict (MHD_OPTION_CLIENT_DISCIPLINE_LVL, 0.9.77
 * and later: 1.0) refuse such heads themselves, with their own 400 and a
 * close, which echosvc logs and counts. mhd_quirks_init() must have run. */
bool mhd_quirks_head_hides_bytes(void);

/* The daemon options the running version needs, written into items;
 * returns how many (at most MHD_QUIRKS_OPTIONS_MAX). */
#define MHD_QUIRKS_OPTIONS_MAX 1
size_t mhd_quirks_daemon_options(struct MHD_OptionItem *items);

/*
 * Accepting at the descriptor limit (both versions): when accept() fails
 * for want of a descriptor, the library stops watching its listening socket;
 * with connections open it watches it again only from the start of a run
 * after one closed (so that run must come at once), and with none it keeps
 * failing accept() on every run (a core at 100 %). Neither says so through
 * its API: server.c asks fd_budget_shortage() after a run that came to
 * nothing.
 */

/*
 * A TLS answer flushed as one record after libmicrohttpd wrote it (see
 * server_tls.c): libmicrohttpd corks a TLS socket (TCP_CORK) for an answer
 * and may leave it corked for a write it did not make, so the record would
 * wait up to 200 ms in the kernel. Uncorks fd; call after the flush.
 */
void mhd_quirks_tls_uncork(int fd);

#endif
