/* fuzz_upstream_answer.c - libFuzzer: A's answer as B checks it, and B's answer built from it. */
#include <assert.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "json.h"
#include "upstream_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct upstream_failure failure;
	char *echo = NULL;
	size_t echo_len = 0;
	struct buffer body;
	cJSON *parsed;

	if (size > UPSTREAM_ANSWER_MAX)
		return 0; /* curl stops B's read at the cap */
	if (upstream_check_answer((const char *)data, size, &echo, &echo_len, &failure) < 0) {
		/* a refused answer is a 502 bad response with a cause */
		assert(echo == NULL);
		assert(failure.status == 502 || failure.status == 503);
		assert(failure.cause[0] != '\0');
		return 0;
	}
	/* accepted: the echo holds no NUL, so B can carry it exactly */
	assert(echo != NULL && strlen(echo) == echo_len);
	buffer_init(&body, echo_len * 6 + 64);
	assert(buffer_append_str(&body, "{\"service_a\":{\"echo\":") == 0);
	assert(json_append_string(&body, echo, echo_len) == 0);
	assert(buffer_append_str(&body, "},\"service_b\":\"ok\"}") == 0);
	parsed = cJSON_ParseWithLength(body.data, body.len);
	assert(parsed != NULL);
	cJSON_Delete(parsed);
	buffer_finish(&body);
	free(echo);
	return 0;
}
