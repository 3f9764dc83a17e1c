/* curl_loop.h - a curl multi handle driven by an event loop: its sockets and timer in the loop's set. */
#ifndef ECHOSVC_CURL_LOOP_H
#define ECHOSVC_CURL_LOOP_H

#include <curl/curl.h>

#include "loop.h"

/*
 * The glue between libcurl's multi_socket API and a loop: curl's sockets go
 * into the loop's epoll set (CURLMOPT_SOCKETFUNCTION) and its timer onto the
 * loop's timers (CURLMOPT_TIMERFUNCTION); when they fire,
 * curl_multi_socket_action() runs and finished transfers are reported.
 * Knows nothing of what the transfers are. Everything on the loop's thread.
 */
struct curl_loop;

/* Called for each finished transfer, after curl_multi_socket_action() has
 * returned, so it may remove easy and add others. */
typedef void curl_loop_done(void *arg, CURL *easy, CURLcode result);

/* Makes the multi handle on loop. NULL when out of memory. */
struct curl_loop *curl_loop_new(struct loop *loop, curl_loop_done *done, void *arg);

/* The multi handle, for curl_multi_setopt/add_handle/remove_handle. Owned by
 * the curl_loop. */
CURLM *curl_loop_multi(struct curl_loop *cl);

/* Sets what every easy handle of this multi needs: socket open and close
 * callbacks that keep the loop's watches right. Once per easy handle. */
void curl_loop_prepare(struct curl_loop *cl, CURL *easy);

/* Cleans the multi handle up (closing its connections) and frees the rest.
 * Every easy handle must have been removed. */
void curl_loop_free(struct curl_loop *cl);

#endif
