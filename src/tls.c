/* tls.c - a role's TLS files: loaded and checked at start, reloaded on SIGHUP, given to each new handshake. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "list.h"

#define PEM_MAX (1024 * 1024) /* a certificate chain or key file larger than this is refused */

/* One loaded set of files. Each session that uses its credentials holds
 * it; a generation a reload has replaced is freed when its last session is
 * gone (a generation is about 30 KiB, and a SIGHUP may come every day). */
struct generation {
	struct list_link link;        /* on tls_server.retired once replaced */
	gnutls_certificate_credentials_t cred;
	bool client_ca;
	unsigned sessions;            /* under tls_server.lock */
};

struct tls_server {
	const struct config *cfg;
	pthread_mutex_t lock;         /* held a few instructions: current, retired, sessions */
	struct generation *current;
	struct list_link *retired;    /* replaced, still held by open sessions */
	gnutls_datum_t cert, key;     /* the first PEM texts, NUL-terminated: libmicrohttpd's
				       * start options point at them */
};

/* Reads a whole file into a NUL-terminated datum. */
static int file_read(const char *flag, const char *path, gnutls_datum_t *out, char *error,
		     size_t error_size)
{
	/* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer;
	 * only a regular file is read */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	size_t done = 0;
	char *data = NULL;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(error, error_size, "%s %s: %s", flag, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(error, error_size, "%s %s: not a regular file", flag, path);
		goto fail;
	}
	if (st.st_size > PEM_MAX) {
		snprintf(error, error_size, "%s %s: not a PEM file of at most %d bytes", flag, path,
			 PEM_MAX);
		goto fail;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		snprintf(error, error_size, "%s %s: out of memory", flag, path);
		goto fail;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(error, error_size, "%s %s: %s", flag, path,
				 n < 0 ? strerror(errno) : "shorter than it said");
			goto fail;
		}
		done += (size_t)n;
	}
	data[done] = '\0';
	close(fd);
	out->data = (unsigned char *)data;
	out->size = (unsigned)done;
	return 0;
fail:
	free(data);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Adds the CA certificates of path to cred's trust list. */
static int trust_add(gnutls_certificate_credentials_t cred, const char *flag, const char *path,
		     char *error, size_t error_size)
{
	gnutls_datum_t pem = {NULL, 0};
	int n;

	if (file_read(flag, path, &pem, error, error_size) < 0)
		return -1;
	n = gnutls_certificate_set_x509_trust_mem(cred, &pem, GNUTLS_X509_FMT_PEM);
	free(pem.data);
	if (n <= 0) {
		snprintf(error, error_size, "%s %s: no PEM certificate in it%s%s", flag, path,
			 n < 0 ? ": " : "", n < 0 ? gnutls_strerror(n) : "");
		return -1;
	}
	return 0;
}

/* Loads a certificate chain and its key into cred; the texts go to cert and key. */
static int pair_load(gnutls_certificate_credentials_t cred, const char *cert_flag,
		     const char *cert_path, const char *key_flag, const char *key_path,
		     gnutls_datum_t *cert, gnutls_datum_t *key, char *error, size_t error_size)
{
	int rc;

	gnutls_x509_crt_t *chain = NULL;
	unsigned count = 0;

	if (file_read(cert_flag, cert_path, cert, error, error_size) < 0)
		return -1;
	if (file_read(key_flag, key_path, key, error, error_size) < 0)
		return -1;
	/* the chain is parsed on its own first: GnuTLS 3.7's key-pair loader
	 * leaks a certificate when the PEM is broken */
	rc = gnutls_x509_crt_list_import2(&chain, &count, cert, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || count == 0) {
		snprintf(error, error_size, "%s %s: not a PEM certificate chain: %s", cert_flag,
			 cert_path, rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
		return -1;
	}
	for (unsigned i = 0; i < count; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_free(chain);
	rc = gnutls_certificate_set_x509_key_mem2(cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		snprintf(error, error_size, "%s %s and %s %s: not a PEM certificate chain and its key: %s",
			 cert_flag, cert_path, key_flag, key_path, gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

static void generation_free(struct generation *g)
{
	if (g->cred != NULL)
		gnutls_certificate_free_credentials(g->cred);
	free(g);
}

/* Loads the files into a new generation; the PEM texts go to cert and key
 * (the caller's to free). */
static struct generation *generation_load(const struct config *cfg, gnutls_datum_t *cert,
					  gnutls_datum_t *key, char *error, size_t error_size)
{
	struct generation *g = calloc(1, sizeof(*g));

	if (g == NULL || gnutls_certificate_allocate_credentials(&g->cred) < 0) {
		snprintf(error, error_size, "TLS: out of memory");
		goto fail;
	}
	if (pair_load(g->cred, "--tls-cert", cfg->tls_cert, "--tls-key", cfg->tls_key, cert, key,
		      error, error_size) < 0)
		goto fail;
	if (cfg->tls_client_ca[0] != '\0') {
		if (trust_add(g->cred, "--tls-client-ca", cfg->tls_client_ca, error, error_size) < 0)
			goto fail;
		g->client_ca = true;
	}
	return g;
fail:
	if (g != NULL)
		generation_free(g);
	return NULL;
}

struct tls_server *tls_server_load(const struct config *cfg, char *error, size_t error_size)
{
	struct tls_server *tls = calloc(1, sizeof(*tls));

	if (tls == NULL) {
		snprintf(error, error_size, "TLS: out of memory");
		return NULL;
	}
	tls->cfg = cfg;
	tls->current = generation_load(cfg, &tls->cert, &tls->key, error, error_size);
	if (tls->current == NULL || pthread_mutex_init(&tls->lock, NULL) != 0) {
		if (tls->current != NULL) {
			snprintf(error, error_size, "TLS: out of memory");
			generation_free(tls->current);
		}
		free(tls->cert.data);
		free(tls->key.data);
		free(tls);
		return NULL;
	}
	return tls;
}

int tls_server_reload(struct tls_server *tls, char *error, size_t error_size)
{
	gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
	struct generation *g = generation_load(tls->cfg, &cert, &key, error, error_size), *old;

	/* only the first texts go to libmicrohttpd: a reload's key need not
	 * stay in memory as text */
	free(cert.data);
	free(key.data);
	if (g == NULL)
		return -1;
	pthread_mutex_lock(&tls->lock);
	/* a handshake that starts from here on gets the new files */
	old = tls->current;
	tls->current = g;
	if (old->sessions > 0) {
		list_push(&tls->retired, &old->link);
		old = NULL;
	}
	pthread_mutex_unlock(&tls->lock);
	if (old != NULL)
		generation_free(old);
	return 0;
}

const char *tls_server_cert_pem(const struct tls_server *tls)
{
	return (const char *)tls->cert.data;
}

const char *tls_server_key_pem(const struct tls_server *tls)
{
	return (const char *)tls->key.data;
}

struct tls_hold *tls_server_session(struct tls_server *tls, void *session)
{
	gnutls_session_t s = session;
	struct generation *g;

	pthread_mutex_lock(&tls->lock);
	g = tls->current;
	g->sessions++;
	pthread_mutex_unlock(&tls->lock);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, g->cred);
	if (g->client_ca) {
		/* libmicrohttpd only asks for a certificate (GNUTLS_CERT_REQUEST);
		 * the spec refuses the handshake without a good one */
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(s, NULL, 0);
	}
	return (struct tls_hold *)g;
}

void tls_server_release(struct tls_server *tls, struct tls_hold *hold)
{
	struct generation *g = (struct generation *)hold, *gone = NULL;

	if (g == NULL)
		return;
	pthread_mutex_lock(&tls->lock);
	if (--g->sessions == 0 && g != tls->current) {
		list_remove(&tls->retired, &g->link);
		gone = g;
	}
	pthread_mutex_unlock(&tls->lock);
	if (gone != NULL)
		generation_free(gone);
}

void tls_server_free(struct tls_server *tls)
{
	while (tls->retired != NULL) {
		struct generation *g = LIST_ITEM(tls->retired, struct generation, link);

		list_remove(&tls->retired, &g->link);
		generation_free(g);
	}
	generation_free(tls->current);
	pthread_mutex_destroy(&tls->lock);
	free(tls->cert.data);
	free(tls->key.data);
	free(tls);
}

void tls_session_hold(void *session)
{
	gnutls_record_cork(session);
}

int tls_session_flush(void *session)
{
	int n = gnutls_record_uncork(session, 0);

	if (n >= 0)
		return 1;
	return n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ? 0 : -1;
}

int tls_client_check(const struct config *cfg, char *error, size_t error_size)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
	int rc = 0;

	if (cfg->service_a_ca[0] == '\0' && cfg->service_a_cert[0] == '\0')
		return 0;
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(error, error_size, "TLS: out of memory");
		return -1;
	}
	if (cfg->service_a_ca[0] != '\0')
		rc = trust_add(cred, "--service-a-ca", cfg->service_a_ca, error, error_size);
	if (rc == 0 && cfg->service_a_cert[0] != '\0')
		rc = pair_load(cred, "--service-a-cert", cfg->service_a_cert, "--service-a-key",
			       cfg->service_a_key, &cert, &key, error, error_size);
	free(cert.data);
	free(key.data);
	gnutls_certificate_free_credentials(cred);
	return rc;
}
