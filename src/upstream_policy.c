/* upstream_policy.c - what B decides about a call to A, without sockets: URL, outcome, answer. */
#include "upstream_policy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int upstream_build_url(struct buffer *out, const char *base, const char *msg, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char chunk[256];
	size_t used = 0;

	if (buffer_append_str(out, base) < 0 || buffer_append_str(out, UPSTREAM_PATH "?msg=") < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (used + 3 > sizeof(chunk)) {
			if (buffer_append(out, chunk, used) < 0)
				return -1;
			used = 0;
		}
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			chunk[used++] = (char)c;
		} else {
			chunk[used++] = '%';
			chunk[used++] = hex[c >> 4];
			chunk[used++] = hex[c & 0x0F];
		}
	}
	return buffer_append(out, chunk, used);
}

void upstream_failure_set(struct upstream_failure *f, unsigned status,
			  enum upstream_outcome outcome, int retryable, const char *cause)
{
	f->status = status;
	f->outcome = outcome;
	f->retryable = retryable;
	snprintf(f->cause, sizeof(f->cause), "%s", cause);
}

bool upstream_classify_local(int error, struct upstream_failure *failure)
{
	char cause[96];
	size_t at;

	if (error != EMFILE && error != ENFILE && error != ENOBUFS && error != ENOMEM)
		return false;
	snprintf(cause, sizeof(cause), "B cannot open a connection: %s", strerror(error));
	/* "Too many open files" reads as part of the sentence */
	at = strlen("B cannot open a connection: ");
	if (cause[at] >= 'A' && cause[at] <= 'Z')
		cause[at] = (char)(cause[at] - 'A' + 'a');
	upstream_failure_set(failure, 503, UPSTREAM_LOCAL, 0, cause);
	return true;
}

void upstream_classify(const struct upstream_attempt *a, unsigned timeout_ms,
		       unsigned connect_timeout_ms, struct upstream_failure *failure)
{
	CURLcode code = a->code;
	long os_errno = a->os_errno, http_code = a->http_code, tls_verify = a->tls_verify;
	int sent = a->sent, received = a->received;
	char cause[96];

	/* TLS 1.3 ends the client's handshake before the server has checked
	 * the client's certificate: a refusal comes on the first read or
	 * write of a new connection, as an alert (no system error) or, when
	 * the server just closes with the request unread, as a reset */
	if (a->tls && !received && (os_errno == 0 || a->new_connection) &&
	    (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING)) {
		upstream_failure_set(failure, 503, UPSTREAM_TLS, 0,
				     "TLS: handshake refused by A (client certificate?)");
		return;
	}
	switch (code) {
	/* TLS: never retried (the next replica would likely fail the same
	 * way), counted for the breaker, outcome "tls" */
	case CURLE_PEER_FAILED_VERIFICATION:
		/* curl checks the chain, then the host name: a good chain that
		 * fails is a name that does not match */
		upstream_failure_set(failure, 503, UPSTREAM_TLS, 0,
				     (tls_verify & GNUTLS_CERT_EXPIRED) != 0 ? "TLS: certificate expired"
				     : tls_verify != 0 ? "TLS: certificate verify failed"
						       : "TLS: host name mismatch");
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_INITFAILED:
		upstream_failure_set(failure, 503, UPSTREAM_TLS, 0, "TLS: handshake failed");
		break;
	case CURLE_SSL_CERTPROBLEM:
		upstream_failure_set(failure, 503, UPSTREAM_TLS, 0,
				     "TLS: client certificate could not be used");
		break;
	case CURLE_SSL_CACERT_BADFILE:
		upstream_failure_set(failure, 503, UPSTREAM_TLS, 0, "TLS: CA file could not be read");
		break;
	case CURLE_OK:
		if (http_code == 200) {
			upstream_failure_set(failure, 0, UPSTREAM_OK, 0, "");
		} else {
			snprintf(cause, sizeof(cause), "HTTP %ld", http_code);
			upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0, cause);
		}
		break;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED || os_errno == 0)
			snprintf(cause, sizeof(cause), "connection refused");
		else
			snprintf(cause, sizeof(cause), "connect: %s", strerror((int)os_errno));
		upstream_failure_set(failure, 503, UPSTREAM_REFUSED, 1, cause);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		upstream_failure_set(failure, 503, UPSTREAM_REFUSED, 1, "name did not resolve");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (!sent) {
			snprintf(cause, sizeof(cause), "connect timeout after %u ms",
				 connect_timeout_ms);
			upstream_failure_set(failure, 503, UPSTREAM_TIMEOUT, 1, cause);
		} else {
			snprintf(cause, sizeof(cause), "timeout after %u ms", timeout_ms);
			upstream_failure_set(failure, 504, UPSTREAM_TIMEOUT, 0, cause);
		}
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		if (!received)
			upstream_failure_set(failure, 503, UPSTREAM_REFUSED, 1,
				    code == CURLE_GOT_NOTHING ? "connection closed without an answer"
							      : "connection reset");
		else
			upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0,
				    "connection reset during the answer");
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		snprintf(cause, sizeof(cause), "answer larger than %d bytes", UPSTREAM_ANSWER_MAX);
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0, cause);
		break;
	case CURLE_PARTIAL_FILE:
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0, "answer cut short");
		break;
	default:
		snprintf(cause, sizeof(cause), "invalid HTTP answer (curl error %d)", (int)code);
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0, cause);
		break;
	}
}

/* Whether JSON text holds a NUL, raw or escaped (\u0000): cJSON ends its
 * strings there, so such an echo would reach B's client cut short.
 * Backslashes appear in valid JSON only inside strings, each starting one
 * escape. */
static bool has_nul(const char *text, size_t len)
{
	if (memchr(text, '\0', len) != NULL)
		return true; /* raw: not even valid JSON */
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
			return true;
		i++; /* the escaped character: "\\u0000" is no NUL */
	}
	return false;
}

/* Whether only JSON whitespace (RFC 8259 2) is left in [p, end). */
static bool only_whitespace(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
	return true;
}

/* How many members of object are named name (JSON allows repeats; which
 * one a parser keeps is not defined, so an answer with two is not one). */
static unsigned members_named(const cJSON *object, const char *name)
{
	unsigned count = 0;
	const cJSON *member;

	cJSON_ArrayForEach(member, object)
		if (member->string != NULL && strcmp(member->string, name) == 0)
			count++;
	return count;
}

int upstream_check_answer(const char *answer, size_t len, char **echo, size_t *echo_len,
			  struct upstream_failure *failure)
{
	const char *end = NULL;
	cJSON *parsed = cJSON_ParseWithLengthOpts(answer, len, &end, false);
	const cJSON *item;
	int rc = -1;

	if (parsed == NULL || end == NULL || !only_whitespace(end, answer + len)) {
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0, "answer is not JSON");
		goto done;
	}
	item = cJSON_GetObjectItemCaseSensitive(parsed, "echo");
	if (!cJSON_IsObject(parsed) || !cJSON_IsString(item) || item->valuestring == NULL) {
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0, "answer has no string \"echo\"");
		goto done;
	}
	if (members_named(parsed, "echo") > 1) {
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0,
				     "answer has more than one \"echo\"");
		goto done;
	}
	if (has_nul(answer, len)) {
		upstream_failure_set(failure, 502, UPSTREAM_BAD_RESPONSE, 0,
				     "answer holds a NUL (\\u0000) B cannot pass on");
		goto done;
	}
	*echo_len = strlen(item->valuestring);
	*echo = malloc(*echo_len + 1);
	if (*echo == NULL) {
		upstream_failure_set(failure, 503, UPSTREAM_REFUSED, 0, "out of memory");
		goto done;
	}
	memcpy(*echo, item->valuestring, *echo_len + 1);
	rc = 0;
done:
	cJSON_Delete(parsed);
	return rc;
}
