/* buffer.h - a growable byte buffer with a hard size cap, like curl's dynbuf. */
#ifndef ECHOSVC_BUFFER_H
#define ECHOSVC_BUFFER_H

#include <stddef.h>

/*
 * The bytes are always followed by a NUL (not counted in len) so that the
 * text can be handed to C string functions. A buffer that would grow past
 * cap refuses the append and stays as it was: overflow is an error, never a
 * silent cut. The buffer owns data; buffer_finish() frees it.
 */
struct buffer {
	char *data;
	size_t len;
	size_t size; /* allocated bytes */
	size_t cap;  /* most bytes len may reach */
	int fixed;   /* data is the caller's storage: never reallocated or freed */
};

/* Prepares an empty buffer that will hold at most cap bytes. Allocates nothing. */
void buffer_init(struct buffer *buf, size_t cap);

/* Prepares an empty buffer over the caller's storage (size bytes, so at most
 * size - 1 bytes of text): no allocation ever, for short-lived text on the
 * stack. buffer_release() must not be used on it. */
void buffer_init_fixed(struct buffer *buf, char *storage, size_t size);

/* Frees the bytes and leaves an empty buffer that may be reused. */
void buffer_finish(struct buffer *buf);

/* Drops the contents but keeps the allocation. */
void buffer_reset(struct buffer *buf);

/* Appends len bytes. Returns 0, or -1 with errno ENOMEM (allocation) or
 * E2BIG (past cap); on failure the buffer is unchanged. */
int buffer_append(struct buffer *buf, const void *bytes, size_t len);

/* Appends a NUL-terminated string. Same result as buffer_append(). */
int buffer_append_str(struct buffer *buf, const char *text);

/* Appends printf-formatted text. Same result as buffer_append(). */
int buffer_printf(struct buffer *buf, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Hands the bytes to the caller (who frees them with free()) and leaves the
 * buffer empty. Returns NULL when nothing was ever appended. */
char *buffer_release(struct buffer *buf, size_t *len);

#endif
