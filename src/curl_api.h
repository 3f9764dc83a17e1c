/* curl_api.h - libcurl's functions, loaded at run time by the role that calls A. */
#ifndef ECHOSVC_CURL_API_H
#define ECHOSVC_CURL_API_H

#include <curl/curl.h>
#include <stddef.h>

/*
 * Service A never calls A, so it should not carry an HTTP client: linking
 * libcurl would map it and its dependencies (OpenSSL, Kerberos, LDAP…) into
 * every process, about 3 MiB of resident pages, a third of A's memory. B
 * loads it with dlopen() instead, and calls it through this table, whose
 * types are curl's own prototypes.
 */
struct curl_api {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_setopt) *multi_setopt;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_socket_action) *multi_socket_action;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
};

/* The functions; every pointer is set once curl_api_load() has returned 0. */
extern struct curl_api curl_api;

/*
 * Loads libcurl (libcurl.so.4, or the GnuTLS flavour's libcurl-gnutls.so.4)
 * and fills curl_api. Idempotent. Returns 0, or -1 with the reason in error.
 * Call before any thread uses curl_api. The library stays loaded.
 */
int curl_api_load(char *error, size_t error_size);

#endif
