/* log.c - request and event lines on stderr, text or JSON, one write() each. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

static const char *log_service = "echosvc";
static enum config_log_format log_format = CONFIG_LOG_TEXT;

void log_init(const char *service, enum config_log_format format)
{
	log_service = service;
	log_format = format;
}

/* Each thread formats the local time at most once a second: localtime_r
 * takes a global lock inside glibc. */
struct time_cache {
	time_t second;
	char text[24];   /* 2026/02/04 21:20:40 */
	char iso[24];    /* 2026-02-04T21:20:40 */
	char zone[8];    /* +01:00 */
};

static _Thread_local struct time_cache time_cache = {.second = -1};

static const struct time_cache *log_now(long *millis)
{
	struct timeval now;
	struct time_cache *cache = &time_cache;

	gettimeofday(&now, NULL);
	*millis = now.tv_usec / 1000;
	if (now.tv_sec != cache->second) {
		struct tm tm;
		char offset[8];

		localtime_r(&now.tv_sec, &tm);
		strftime(cache->text, sizeof(cache->text), "%Y/%m/%d %H:%M:%S", &tm);
		strftime(cache->iso, sizeof(cache->iso), "%Y-%m-%dT%H:%M:%S", &tm);
		strftime(offset, sizeof(offset), "%z", &tm); /* +0100 */
		snprintf(cache->zone, sizeof(cache->zone), "%.3s:%.2s", offset, offset + 3);
		cache->second = now.tv_sec;
	}
	return cache;
}

/* Whether a value goes out unquoted: printable ASCII without space, '"',
 * '\\' or '='. A bit per byte value (bits 0-63, 64-127): every byte of
 * every field of every line passes here. */
static bool value_plain(const char *value, size_t len)
{
	static const uint64_t plain[2] = {
		/* 0x21-0x3F but '"' and '=' */
		UINT64_C(0xFFFFFFFE00000000) & ~(UINT64_C(1) << '"') & ~(UINT64_C(1) << '='),
		/* 0x40-0x7E but '\\' */
		UINT64_C(0x7FFFFFFFFFFFFFFF) & ~(UINT64_C(1) << ('\\' - 64)),
	};

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c >= 0x80 || !((plain[c >> 6] >> (c & 63)) & 1))
			return false;
	}
	return true;
}

size_t log_format_value(char *dst, size_t dst_size, const char *value, size_t len,
			bool force_quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t out = 0, limit = dst_size - 5; /* room for ...", or the quote */

	if (!force_quote && value_plain(value, len) && len <= dst_size) {
		memcpy(dst, value, len);
		return len;
	}
	dst[out++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		char piece[4];
		size_t n = 2;

		piece[0] = '\\';
		if (c == '"' || c == '\\') {
			piece[1] = (char)c;
		} else if (c == '\n') {
			piece[1] = 'n';
		} else if (c == '\r') {
			piece[1] = 'r';
		} else if (c == '\t') {
			piece[1] = 't';
		} else if (c < 0x20 || c >= 0x7F) {
			piece[1] = 'x';
			piece[2] = hex[c >> 4];
			piece[3] = hex[c & 0x0F];
			n = 4;
		} else {
			piece[0] = (char)c;
			n = 1;
		}
		if (out + n > limit) {
			memcpy(dst + out, "...", 3);
			out += 3;
			break;
		}
		memcpy(dst + out, piece, n);
		out += n;
	}
	dst[out++] = '"';
	return out;
}

/* Appends a JSON string literal, cut short (at a character boundary) when
 * it would not fit in room. */
static size_t json_field(char *dst, size_t room, const char *value, size_t len)
{
	size_t used, out;

	if (room < 8)
		return 0;
	dst[0] = '"';
	out = 1 + json_escape(dst + 1, room - 5, value, len, &used);
	if (used < len) {
		memcpy(dst + out, "...", 3);
		out += 3;
	}
	dst[out++] = '"';
	return out;
}

/* Writes the whole line with one write(); errno is preserved for callers
 * that log a failure and then report errno. */
static void log_write(char *line, size_t len)
{
	int saved = errno;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(STDERR_FILENO, line + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	errno = saved;
}

static void line_printf(struct log_line *line, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void line_printf(struct log_line *line, const char *format, ...)
{
	va_list args;
	size_t room = sizeof(line->text) - 1 - line->len; /* keep one byte for \n */
	int n;

	va_start(args, format);
	n = vsnprintf(line->text + line->len, room, format, args);
	va_end(args);
	if (n > 0)
		line->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Appends bytes, cut at the line's end: the hot path of every line, without
 * a format string to parse. */
static void line_append(struct log_line *line, const char *text, size_t len)
{
	size_t room = sizeof(line->text) - 1 - line->len;

	if (len > room)
		len = room;
	memcpy(line->text + line->len, text, len);
	line->len += len;
}

static void line_append_str(struct log_line *line, const char *text)
{
	line_append(line, text, strlen(text));
}

/* Adds " key=" (text) or ,"key": (JSON). */
static void line_key(struct log_line *line, const char *key)
{
	bool json = log_format == CONFIG_LOG_JSON;
	size_t len = strlen(key);
	char *p = line->text + line->len;

	if (len + 4 > sizeof(line->text) - 1 - line->len) {
		line_append(line, json ? ",\"" : " ", json ? 2 : 1);
		line_append(line, key, len);
		line_append(line, json ? "\":" : "=", json ? 2 : 1);
		return;
	}
	/* the common case in one pass: the keys are short and the line has room */
	if (json)
		*p++ = ',';
	*p++ = json ? '"' : ' ';
	memcpy(p, key, len);
	p += len;
	if (json)
		*p++ = '"';
	*p++ = json ? ':' : '=';
	line->len = (size_t)(p - line->text);
}

void log_line_number(struct log_line *line, const char *key, unsigned long long value)
{
	char digits[24];
	size_t n = sizeof(digits);

	do {
		digits[--n] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	line_key(line, key);
	line_append(line, digits + n, sizeof(digits) - n);
}

void log_line_field(struct log_line *line, const char *key, const char *value, size_t len,
		    bool force_quote, size_t max)
{
	size_t room = sizeof(line->text) - 1 - line->len;

	if (max > room)
		max = room;
	line_key(line, key);
	if (log_format == CONFIG_LOG_JSON) {
		room = sizeof(line->text) - 1 - line->len;
		line->len += json_field(line->text + line->len, max < room ? max : room, value, len);
	} else {
		room = sizeof(line->text) - 1 - line->len;
		if (room >= 8)
			line->len += log_format_value(line->text + line->len,
						      max < room ? max : room, value, len,
						      force_quote);
	}
}

void log_line_begin(struct log_line *line)
{
	long millis;
	const struct time_cache *now = log_now(&millis);

	line->len = 0;
	if (log_format == CONFIG_LOG_JSON) {
		line_printf(line, "{\"time\":\"%s.%03ld%s\",\"service\":\"%s\"", now->iso,
			    millis, now->zone, log_service);
	} else {
		line_append_str(line, now->text);
		line_append(line, " service=", 9);
		line_append_str(line, log_service);
	}
}

static void line_finish(struct log_line *line)
{
	if (log_format == CONFIG_LOG_JSON)
		line_append(line, "}", 1);
	line->text[line->len++] = '\n';
}

/*
 * Batching. A loop thread appends its request lines to its own buffer and
 * writes it with one write() before the loop sleeps (log_flush from its
 * before-sleep hook), or earlier when the next line would not fit. A batch
 * is at most PIPE_BUF bytes of whole lines, so it is as atomic as one line:
 * lines never interleave. This saves a system call per request, and a line
 * is never later than the end of its loop turn. The buffer is the thread's
 * own: no lock, no flusher thread.
 */
static _Thread_local struct {
	bool on;
	size_t len;
	char data[LOG_LINE_MAX];
} batch;

void log_flush(void)
{
	if (batch.len > 0)
		log_write(batch.data, batch.len);
	batch.len = 0;
}

void log_batch_begin(void)
{
	batch.on = true;
}

void log_batch_end(void)
{
	log_flush();
	batch.on = false;
}

void log_line_send(struct log_line *line)
{
	line_finish(line);
	if (!batch.on) {
		log_write(line->text, line->len);
		return;
	}
	if (batch.len + line->len > sizeof(batch.data))
		log_flush();
	memcpy(batch.data + batch.len, line->text, line->len);
	batch.len += line->len;
}

/* Event lines are rare and must not wait: this thread's batch goes first. */
static void line_send_now(struct log_line *line)
{
	log_flush();
	log_write(line->text, line->len);
}

void log_line_optional(struct log_line *line, const char *key, const char *value, size_t max)
{
	if (value != NULL && value[0] != '\0')
		log_line_field(line, key, value, strlen(value), false, max);
}

void log_event_pairs(const char *event, const char *const *pairs, size_t count)
{
	struct log_line line;

	log_line_begin(&line);
	log_line_field(&line, "event", event, strlen(event), false, 64);
	for (size_t i = 0; i < count; i++)
		log_line_field(&line, pairs[2 * i], pairs[2 * i + 1], strlen(pairs[2 * i + 1]), false,
			   LOG_FIELD_MAX);
	line_finish(&line);
	line_send_now(&line);
}

void log_event(const char *event, const char *key, const char *value)
{
	const char *pair[2] = {key, value};

	log_event_pairs(event, pair, key != NULL ? 1 : 0);
}

void log_failure(const char *message)
{
	struct log_line line;

	log_line_begin(&line);
	log_line_field(&line, "event", "error", 5, false, 64);
	log_line_field(&line, "error", message, strlen(message), true, 2 * LOG_FIELD_MAX);
	line_finish(&line);
	line_send_now(&line);
}

void log_usage(const char *message)
{
	struct log_line line;

	line.len = 0;
	line_printf(&line, "%s", message);
	line.text[line.len++] = '\n';
	log_write(line.text, line.len);
}
