/* tls.h - a role's TLS files: loaded and checked at start, reloaded on SIGHUP, given to each new handshake. */
#ifndef ECHOSVC_TLS_H
#define ECHOSVC_TLS_H

#include <stddef.h>

#include "config.h"

/* TLS 1.2 and 1.3 only, GnuTLS's NORMAL ciphers otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct tls_server;
struct tls_hold; /* a session's hold on the credentials it was given */

/*
 * Loads --tls-cert, --tls-key and --tls-client-ca. Returns NULL with one
 * line naming the file and what is wrong in error (missing, unreadable, not
 * PEM, a key that does not match the certificate).
 */
struct tls_server *tls_server_load(const struct config *cfg, char *error, size_t error_size);

/*
 * Loads the same files again; on success new handshakes use them, open
 * connections keep theirs. On failure the old ones stay and error says why.
 * Returns 0 or -1. One thread at a time (reload.c runs one reload at a time).
 */
int tls_server_reload(struct tls_server *tls, char *error, size_t error_size);

/* The PEM texts first loaded, for libmicrohttpd's start options. */
const char *tls_server_cert_pem(const struct tls_server *tls);
const char *tls_server_key_pem(const struct tls_server *tls);

/*
 * Prepares a new connection's GnuTLS session (a gnutls_session_t) before
 * its handshake: the current credentials and, with --tls-client-ca, a
 * client certificate that is required and verified in the handshake.
 * Returns the session's hold on those credentials, to give back with
 * tls_server_release() once the session is gone; a hold never given back
 * keeps its credentials until tls_server_free(). Any loop thread.
 */
struct tls_hold *tls_server_session(struct tls_server *tls, void *session);

/* Gives a hold back (NULL: none); credentials a reload has replaced are
 * freed with their last hold. Any loop thread. */
void tls_server_release(struct tls_server *tls, struct tls_hold *hold);

/* Frees every generation of credentials; no session may use them any more. */
void tls_server_free(struct tls_server *tls);

/*
 * One answer, one TLS record. libmicrohttpd may write an answer's head and
 * body with two gnutls_record_send() calls, so each answer costs two
 * records: two sends here and, with GnuTLS or OpenSSL reading a record's
 * header and its body apart, four receives at the peer. tls_session_hold()
 * makes what is written on session (a gnutls_session_t) wait in GnuTLS's
 * buffer (gnutls_record_cork); tls_session_flush() writes it as one record.
 * The flush returns 1 when all is in the kernel's hands, 0 when the socket
 * is full (call it again once writable; what waits stays held, and what is
 * written meanwhile joins it), -1 when the session failed.
 */
void tls_session_hold(void *session);
int tls_session_flush(void *session);

/*
 * Checks B's files for calls to A (--service-a-ca, --service-a-cert,
 * --service-a-key) as start-up does: readable, PEM, key matching. Returns 0,
 * or -1 with one line in error.
 */
int tls_client_check(const struct config *cfg, char *error, size_t error_size);

#endif
