/* test_curl_loop.c - curl transfers on a loop: sockets curl opens and closes itself never leave a watch behind. */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "curl_loop.h"
#include "loop.h"

#define TRANSFERS 20

/* A server that answers each connection once and closes it. */
struct server {
	int fd;
	int port;
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct server *srv = arg;
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

	for (int i = 0; i < TRANSFERS; i++) {
		char request[1024];
		int c = accept(srv->fd, NULL, NULL);

		if (c < 0)
			break;
		if (recv(c, request, sizeof(request), 0) > 0 &&
		    send(c, answer, sizeof(answer) - 1, MSG_NOSIGNAL) < 0)
			perror("send");
		close(c);
	}
	return NULL;
}

static void server_start(struct server *srv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);

	srv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(srv->fd >= 0);
	assert_int_equal(bind(srv->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(srv->fd, 16), 0);
	assert_int_equal(getsockname(srv->fd, (struct sockaddr *)&addr, &len), 0);
	srv->port = ntohs(addr.sin_port);
	assert_int_equal(pthread_create(&srv->thread, NULL, serve, srv), 0);
}

struct run {
	struct loop *loop;
	struct curl_loop *cl;
	CURL *easy;
	int done;
	CURLcode last;
	char url[64];
};

static size_t discard(char *data, size_t size, size_t count, void *arg)
{
	return size * count;
}

static void start_transfer(struct run *run)
{
	curl_easy_setopt(run->easy, CURLOPT_URL, run->url);
	curl_multi_add_handle(curl_loop_multi(run->cl), run->easy);
}

static void transfer_done(void *arg, CURL *easy, CURLcode result)
{
	struct run *run = arg;

	curl_multi_remove_handle(curl_loop_multi(run->cl), easy);
	run->last = result;
	if (result != CURLE_OK || ++run->done == TRANSFERS)
		loop_stop(run->loop);
	else
		start_transfer(run);
}

static void give_up(void *arg)
{
	loop_stop(arg);
}

/* On a new socket curl did not open through curl_loop_prepare()'s callback
 * (as its resolver's), curl says CURL_POLL_REMOVE and closes it itself; the
 * next socket then gets the same number. A watch kept on that number looked
 * registered, the new socket was never watched, and the transfer hung until
 * its timeout. Here every connection is such a socket, and closed after each
 * answer. */
static void test_sockets_curl_closes_itself_leave_no_watch(void **state)
{
	struct server srv;
	char error[128];
	struct run run = {0};
	struct loop_timer guard;

	server_start(&srv);
	run.loop = loop_new(error, sizeof(error));
	assert_non_null(run.loop);
	run.cl = curl_loop_new(run.loop, transfer_done, &run);
	assert_non_null(run.cl);
	run.easy = curl_easy_init();
	snprintf(run.url, sizeof(run.url), "http://127.0.0.1:%d/", srv.port);
	curl_easy_setopt(run.easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(run.easy, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(run.easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(run.easy, CURLOPT_WRITEFUNCTION, discard);
	loop_timer_init(&guard, give_up, run.loop);
	loop_timer_arm(run.loop, &guard, 10000); /* a hung transfer fails, not the run */
	start_transfer(&run);
	assert_int_equal(loop_run(run.loop), 0);
	loop_timer_disarm(run.loop, &guard);
	shutdown(srv.fd, SHUT_RDWR); /* the server's accept() returns, whatever happened */
	assert_int_equal(run.done, TRANSFERS);
	assert_int_equal(run.last, CURLE_OK);
	curl_easy_cleanup(run.easy);
	curl_loop_free(run.cl);
	loop_free(run.loop);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockets_curl_closes_itself_leave_no_watch),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
