/* curl_api.c - libcurl's functions, loaded at run time by the role that calls A. */
#include "curl_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

struct curl_api curl_api;

/* Each field of struct curl_api and the symbol that fills it. */
static const struct {
	const char *symbol;
	size_t offset;
} symbols[] = {
#define SYMBOL(field, name) {name, offsetof(struct curl_api, field)}
	SYMBOL(global_init, "curl_global_init"),
	SYMBOL(global_cleanup, "curl_global_cleanup"),
	SYMBOL(easy_init, "curl_easy_init"),
	SYMBOL(easy_setopt, "curl_easy_setopt"),
	SYMBOL(easy_getinfo, "curl_easy_getinfo"),
	SYMBOL(easy_cleanup, "curl_easy_cleanup"),
	SYMBOL(multi_init, "curl_multi_init"),
	SYMBOL(multi_setopt, "curl_multi_setopt"),
	SYMBOL(multi_cleanup, "curl_multi_cleanup"),
	SYMBOL(multi_add_handle, "curl_multi_add_handle"),
	SYMBOL(multi_remove_handle, "curl_multi_remove_handle"),
	SYMBOL(multi_socket_action, "curl_multi_socket_action"),
	SYMBOL(multi_info_read, "curl_multi_info_read"),
	SYMBOL(slist_append, "curl_slist_append"),
	SYMBOL(slist_free_all, "curl_slist_free_all"),
#undef SYMBOL
};

int curl_api_load(char *error, size_t error_size)
{
	static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
	struct curl_api loaded;
	void *library = NULL;

	if (curl_api.slist_free_all != NULL)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && library == NULL; i++)
		library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (library == NULL) {
		snprintf(error, error_size, "loading libcurl: %s", dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *address = dlsym(library, symbols[i].symbol);

		if (address == NULL) {
			snprintf(error, error_size, "loading libcurl: no %s", symbols[i].symbol);
			dlclose(library);
			return -1;
		}
		/* POSIX guarantees a function pointer round-trips through void *. */
		memcpy((char *)&loaded + symbols[i].offset, &address, sizeof(address));
	}
	curl_api = loaded;
	return 0;
}
