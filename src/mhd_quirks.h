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

/* What is known of the running library; filled once by mhd_quirks_init(). */
struct mhd_quirks {
	const char *version;       /* MHD_get_version() */
	unsigned long number;      /* 0x00097500 for 0.9.75, as MHD_VERSION */
	bool known;                /* 0.9.75 or 1.0.x */
	/* MHD_OPTION_CLIENT_DISCIPLINE_LVL is known to the build and the library
	 * (0.9.77 and later): with it, 1.0 itself refuses a head with a NUL, a
	 * bare CR, whitespace before a colon or a folded line (its own 400 and a
	 * close, which echosvc logs and counts) rather than joining a folded line
	 * and serving what follows it. */
	bool discipline;
	/* Without that strictness (0.9.75) a NUL inside a line cuts what the
	 * API gives at the NUL, and a folded line is joined to the one before;
	 * neither shows but in the head's size (request_head.c checks it). */
	bool hides_head_bytes;
};

/* Reads the running version once, before any daemon starts. Returns NULL,
 * or a warning to log once at start (a version this build does not know).
 * Not thread-safe: call from main's thread before the loops start. */
const char *mhd_quirks_init(void);

/* The running library's quirks (mhd_quirks_init() must have run). */
const struct mhd_quirks *mhd_quirks_get(void);

/* The daemon options the running version needs, written into items;
 * returns how many (at most MHD_QUIRKS_OPTIONS_MAX). */
#define MHD_QUIRKS_OPTIONS_MAX 1
size_t mhd_quirks_daemon_options(struct MHD_OptionItem *items);

/*
 * Accepting at the descriptor limit. When accept() fails for want of a
 * descriptor, both versions stop watching the listening socket: with
 * connections open they watch it again only from the start of a run after
 * one closed (so that run must come at once), and with none they keep
 * failing accept() on every run (a core at 100 %); neither says so through
 * its API. Returns 0, or EMFILE or ENFILE when this process is out of
 * descriptors now (a dup of fd fails); one system call.
 */
int mhd_quirks_descriptor_shortage(int fd);

/*
 * A TLS answer flushed as one record after libmicrohttpd wrote it (see
 * server_tls.c): libmicrohttpd corks a TLS socket (TCP_CORK) for an answer
 * and may leave it corked for a write it did not make, so the record would
 * wait up to 200 ms in the kernel. Uncorks fd; call after the flush.
 */
void mhd_quirks_tls_uncork(int fd);

#endif
