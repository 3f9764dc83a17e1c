/* test_fault.c - fault decisions: the seeded sequence, the rates, the two draws per request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fault.h"

static struct config faults(double error_rate, unsigned delay_ms, double delay_rate)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fault_error_rate = error_rate;
	cfg.fault_error_code = 500;
	cfg.fault_delay_ms = delay_ms;
	cfg.fault_delay_rate = delay_rate;
	return cfg;
}

/* splitmix64 written out again, as the docs describe it and as the
 * integration test recomputes it in Python */
static double reference_draw(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15u);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static void test_seeded_sequence_is_the_documented_one(void **state)
{
	struct config cfg = faults(0.3, 10, 0.5);
	struct fault_dice dice;
	uint64_t reference = 7;

	fault_dice_init(&dice, 7, 0);
	for (int i = 0; i < 10000; i++) {
		struct fault_decision d = fault_decide(&dice, &cfg);
		double delay = reference_draw(&reference), error = reference_draw(&reference);

		assert_int_equal(d.delay, delay < 0.5);
		assert_int_equal(d.error, error < 0.3);
	}
}

static void test_same_seed_same_decisions_other_stream_differs(void **state)
{
	struct config cfg = faults(0.5, 0, 1);
	struct fault_dice a, b, c;
	int same_stream = 0, other_stream = 0;

	fault_dice_init(&a, 42, 0);
	fault_dice_init(&b, 42, 0);
	fault_dice_init(&c, 42, 1);
	for (int i = 0; i < 1000; i++) {
		bool x = fault_decide(&a, &cfg).error;

		same_stream += x == fault_decide(&b, &cfg).error;
		other_stream += x == fault_decide(&c, &cfg).error;
	}
	assert_int_equal(same_stream, 1000);
	assert_true(other_stream > 400 && other_stream < 600); /* independent: about half agree */
}

static void test_rates_hold(void **state)
{
	struct config cfg = faults(0.3, 100, 0.1);
	struct fault_dice dice;
	int errors = 0, delays = 0;

	fault_dice_init(&dice, 12345, 0);
	for (int i = 0; i < 100000; i++) {
		struct fault_decision d = fault_decide(&dice, &cfg);

		errors += d.error;
		delays += d.delay;
	}
	/* a fixed seed: the counts are fixed; the bounds say they are right */
	assert_true(errors > 29500 && errors < 30500);
	assert_true(delays > 9700 && delays < 10300);
}

static void test_zero_and_one(void **state)
{
	struct config never = faults(0, 0, 1), always = faults(1, 5, 1), no_delay = faults(0, 0, 1);
	struct fault_dice dice;

	assert_false(fault_enabled(&never));
	assert_true(fault_enabled(&always));
	no_delay.fault_delay_ms = 50;
	no_delay.fault_delay_rate = 0;
	assert_false(fault_enabled(&no_delay)); /* a delay that never applies */
	fault_dice_init(&dice, 0, 0);              /* random seed */
	for (int i = 0; i < 1000; i++) {
		struct fault_decision n = fault_decide(&dice, &never);
		struct fault_decision a = fault_decide(&dice, &always);

		assert_false(n.error || n.delay);
		assert_true(a.error && a.delay);
	}
}

/* the error's draw does not depend on the delay settings */
static void test_delay_settings_do_not_move_errors(void **state)
{
	struct config with = faults(0.4, 100, 0.7), without = faults(0.4, 0, 1);
	struct fault_dice a, b;

	fault_dice_init(&a, 99, 0);
	fault_dice_init(&b, 99, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(fault_decide(&a, &with).error, fault_decide(&b, &without).error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeded_sequence_is_the_documented_one),
		cmocka_unit_test(test_same_seed_same_decisions_other_stream_differs),
		cmocka_unit_test(test_rates_hold),
		cmocka_unit_test(test_zero_and_one),
		cmocka_unit_test(test_delay_settings_do_not_move_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
