/* fuzz_request_input.c - libFuzzer: what a client sends, through query, head, JSON and log code. */
#include <assert.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "json.h"
#include "log.h"
#include "query.h"
#include "request_head.h"
#include "trace.h"

/* Whether bytes are well-formed UTF-8 without a raw control character. */
static int clean_utf8(const unsigned char *p, size_t len)
{
	/* json_escape() writes a text back unchanged when it is well-formed
	 * UTF-8 with no control character, once '"' and '\\' (which it
	 * escapes too) are out of the way */
	char *plain = malloc(len + 1), *escaped = malloc(len * 6 + 1);
	size_t consumed = 0, n = 0;
	int same = 0;

	if (plain != NULL && escaped != NULL) {
		for (size_t i = 0; i < len; i++)
			plain[i] = p[i] == '"' || p[i] == '\\' ? 'x' : (char)p[i];
		n = json_escape(escaped, len * 6 + 1, plain, len, &consumed);
		same = consumed == len && n == len && memcmp(escaped, plain, len) == 0;
	}
	free(plain);
	free(escaped);
	return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query = malloc(size + 1);
	char *value, field[256];
	size_t value_len, n;
	struct buffer body;
	cJSON *parsed;

	if (query == NULL)
		return 0;
	memcpy(query, data, size);
	query[size] = '\0';
	/* a kept request id is 1-128 characters of [A-Za-z0-9._:-] */
	if (request_head_id_valid(query)) {
		size_t id_len = strlen(query);

		assert(id_len >= 1 && id_len <= REQUEST_HEAD_ID_MAX);
		assert(strspn(query, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789._:-") == id_len);
	}
	/* a traceparent, valid or not, gives lower-case hex ids; the one sent
	 * on is always version 00 and 55 characters; a tracestate passed on
	 * holds no line break */
	{
		struct trace t;
		char next[TRACE_PARENT_LEN + 1];
		bool kept = trace_begin(&t, query);
		const char *state = trace_state_forward(&t, query);

		assert(strlen(t.trace_id) == TRACE_ID_LEN && strlen(t.span_id) == TRACE_SPAN_LEN);
		assert(strspn(t.trace_id, "0123456789abcdef") == TRACE_ID_LEN);
		assert(strspn(t.span_id, "0123456789abcdef") == TRACE_SPAN_LEN);
		assert(kept == (t.parent_id[0] != '\0'));
		assert(!kept || memcmp(query + 3, t.trace_id, TRACE_ID_LEN) == 0);
		trace_format_parent(&t, next);
		assert(strlen(next) == TRACE_PARENT_LEN && memcmp(next, "00-", 3) == 0);
		assert(state == NULL || (kept && strpbrk(state, "\r\n") == NULL &&
					 strlen(state) <= TRACE_STATE_MAX));
	}
	/* an absolute-form target gives a path inside it that starts with '/' */
	{
		const char *path = request_head_origin_path(query);

		assert(path == query || path[0] == '/');
		assert(path == query || (path > query && path <= query + strlen(query)) ||
		       strcmp(path, "/") == 0);
	}
	if (query_find_msg(query, size, &value, &value_len)) {
		assert(value >= query && value + value_len <= query + size);
		buffer_init(&body, value_len * 6 + 64);
		assert(buffer_append_str(&body, "{\"echo\":") == 0);
		assert(json_append_string(&body, value, value_len) == 0);
		assert(buffer_append_str(&body, "}") == 0);
		/* the answer is valid UTF-8 with every control character escaped */
		assert(clean_utf8((const unsigned char *)body.data, body.len));
		/* and JSON that says what it should, when msg has no NUL */
		if (memchr(value, '\0', value_len) == NULL) {
			parsed = cJSON_ParseWithLength(body.data, body.len);
			assert(parsed != NULL);
			assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(parsed, "echo")));
			cJSON_Delete(parsed);
		}
		buffer_finish(&body);
	}
	/* a log field never holds a line break, a raw quote or a byte >= 0x7f */
	n = log_format_value(field, sizeof(field), (const char *)data, size, false);
	assert(n <= sizeof(field));
	for (size_t i = 0; i < n; i++)
		assert(field[i] != '\n' && field[i] != '\r' && (unsigned char)field[i] < 0x7f);
	free(query);
	return 0;
}
