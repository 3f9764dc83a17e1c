/* buffer.c - a growable byte buffer with a hard size cap. */
#include "buffer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buffer_init(struct buffer *buf, size_t cap)
{
	buf->data = NULL;
	buf->len = 0;
	buf->size = 0;
	buf->cap = cap;
	buf->fixed = 0;
}

void buffer_init_fixed(struct buffer *buf, char *storage, size_t size)
{
	buf->data = storage;
	buf->data[0] = '\0';
	buf->len = 0;
	buf->size = size;
	buf->cap = size - 1;
	buf->fixed = 1;
}

void buffer_finish(struct buffer *buf)
{
	if (!buf->fixed)
		free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->size = 0;
	buf->fixed = 0;
}

void buffer_reset(struct buffer *buf)
{
	buf->len = 0;
	if (buf->data != NULL)
		buf->data[0] = '\0';
}

/* Makes room for extra more bytes plus the trailing NUL. */
static int buffer_reserve(struct buffer *buf, size_t extra)
{
	size_t need, size;
	char *data;

	if (extra > buf->cap || buf->len > buf->cap - extra) {
		errno = E2BIG;
		return -1;
	}
	need = buf->len + extra + 1;
	if (need <= buf->size)
		return 0;
	size = buf->size != 0 ? buf->size : 64;
	while (size < need)
		size *= 2;
	if (size > buf->cap + 1)
		size = buf->cap + 1;
	data = realloc(buf->data, size);
	if (data == NULL) {
		errno = ENOMEM;
		return -1;
	}
	buf->data = data;
	buf->size = size;
	return 0;
}

int buffer_append(struct buffer *buf, const void *bytes, size_t len)
{
	if (buffer_reserve(buf, len) < 0)
		return -1;
	if (len > 0)
		memcpy(buf->data + buf->len, bytes, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

int buffer_append_str(struct buffer *buf, const char *text)
{
	return buffer_append(buf, text, strlen(text));
}

int buffer_printf(struct buffer *buf, const char *format, ...)
{
	va_list args;
	int needed;

	va_start(args, format);
	needed = vsnprintf(NULL, 0, format, args);
	va_end(args);
	if (needed < 0)
		return -1;
	if (buffer_reserve(buf, (size_t)needed) < 0)
		return -1;
	va_start(args, format);
	vsnprintf(buf->data + buf->len, (size_t)needed + 1, format, args);
	va_end(args);
	buf->len += (size_t)needed;
	return 0;
}

char *buffer_release(struct buffer *buf, size_t *len)
{
	char *data = buf->data;

	if (len != NULL)
		*len = buf->len;
	buf->data = NULL;
	buf->len = 0;
	buf->size = 0;
	return data;
}
