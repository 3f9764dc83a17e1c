/* request_head.h - what echosvc checks and derives from a request's head: framing, target, id. */
#ifndef ECHOSVC_REQUEST_HEAD_H
#define ECHOSVC_REQUEST_HEAD_H

#include <microhttpd.h>
#include <stdbool.h>

#define REQUEST_HEAD_ID_MAX 128     /* longest X-Request-Id kept */
/* The header budget beside a maximal request line (the contract's): header
 * lines of at most this many bytes, as "name: value" CR LF, in at most this
 * many lines, Cookie included. */
#define REQUEST_HEAD_BYTES_MAX 8192
#define REQUEST_HEAD_LINES_MAX 100
#define REQUEST_HEAD_NEW_ID_LEN 32  /* hex digits of an id echosvc makes */

/* Whether a client's X-Request-Id is kept: 1-128 of [A-Za-z0-9._:-]. */
bool request_head_id_valid(const char *id);

/* Writes a fresh id: 32 random hex digits (rng.h: unique, not secret, and
 * no system call per request). */
void request_head_new_id(char id[REQUEST_HEAD_NEW_ID_LEN + 1]);

/*
 * RFC 9112 6.3, 5.1 and 5.2 for services that never take a body: the reason
 * to refuse a request whose head frames a body (Transfer-Encoding, a
 * Content-Length other than one 0), could be framed differently by two
 * parsers (whitespace before a colon, a folded header line, two Host fields
 * or an invalid one), holds a bare CR or a NUL byte, or is HTTP/1.1 without
 * Host. method and version are the access handler's; target_len is the
 * length of the raw target as the URI log callback saw it. NULL when the
 * head is fine. The string is static. *status is the answer's: 400, or 431
 * for header lines past the budget (REQUEST_HEAD_BYTES_MAX in
 * REQUEST_HEAD_LINES_MAX lines). *values_cut tells that the head hides
 * bytes, so that a header's value as libmicrohttpd gives it may not be what
 * the client sent.
 */
const char *request_head_framing_error(struct MHD_Connection *connection, const char *method,
				       size_t target_len, const char *version, unsigned *status,
				       bool *values_cut);

/* Whether method is a token (RFC 9110 5.6.2: one or more tchar). */
bool request_head_method_valid(const char *method);

/* The path of an absolute-form target ("http://host/echo" gives "/echo"),
 * which RFC 9112 3.2.2 asks a server to accept; url itself otherwise.
 * Points into url. */
const char *request_head_origin_path(const char *url);

#endif
