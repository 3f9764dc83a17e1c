/* upstream_outcome.h - how a call from B to A can end, shared by the client and its policy. */
#ifndef ECHOSVC_UPSTREAM_OUTCOME_H
#define ECHOSVC_UPSTREAM_OUTCOME_H

#define UPSTREAM_ANSWER_MAX (64 * 1024) /* the largest answer B accepts from A */

/* How a call to A ended, as echosvc_upstream_requests_total counts it. */
enum upstream_outcome {
	UPSTREAM_OK,
	UPSTREAM_REFUSED,
	UPSTREAM_TIMEOUT,
	UPSTREAM_BAD_RESPONSE,
	UPSTREAM_TLS,
	UPSTREAM_CIRCUIT_OPEN,
	UPSTREAM_OVERLOADED,
	UPSTREAM_LOCAL,        /* B could not open a socket: B's shortage, not A's */
	UPSTREAM_OUTCOME_COUNT
};

#endif
