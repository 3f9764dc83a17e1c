/* curl_floor.c - the least a libcurl client spends per call: the floor B's calls to A are held to.
 *
 *   curl_floor URL COUNT [--headers]
 *
 * COUNT keep-alive GETs of URL with one reused easy handle through the easy
 * interface, the URL set for every call as a client with changing queries
 * must, the body dropped. --headers adds B's two per-call headers
 * (X-Request-Id, traceparent), rebuilt each call. Prints the number of 200
 * answers. tests/bench/instructions.py counts it under callgrind. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t body_drop(char *data, size_t size, size_t count, void *arg)
{
	(void)data;
	(void)arg;
	return size * count;
}

int main(int argc, char **argv)
{
	long count, status, ok = 0;
	int headers = argc > 3 && strcmp(argv[3], "--headers") == 0;
	CURL *easy;

	if (argc < 3 || (count = strtol(argv[2], NULL, 10)) < 1) {
		fprintf(stderr, "usage: curl_floor URL COUNT [--headers]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	easy = curl_easy_init();
	if (easy == NULL)
		return 1;
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, body_drop);
	for (long i = 0; i < count; i++) {
		struct curl_slist *list = NULL;
		char line[96];

		curl_easy_setopt(easy, CURLOPT_URL, argv[1]);
		if (headers) {
			snprintf(line, sizeof(line), "X-Request-Id: %032lx", (unsigned long)i);
			list = curl_slist_append(list, line);
			snprintf(line, sizeof(line), "traceparent: 00-%032lx-%016lx-01",
				 (unsigned long)i, (unsigned long)i);
			list = curl_slist_append(list, line);
		}
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
		if (curl_easy_perform(easy) == CURLE_OK &&
		    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
		    status == 200)
			ok++;
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(list);
	}
	curl_easy_cleanup(easy);
	curl_global_cleanup();
	printf("%ld\n", ok);
	return ok == count ? 0 : 1;
}
