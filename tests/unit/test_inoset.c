/* The inode set of fs/inoset.c against a plain array, through growth, probing runs that wrap
 * around the table, and removals from the middle of runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>

#include "fs/inoset.h"

#define N 5000

static void test_set_agrees_with_an_array(void **state)
{
	static bool in[N + 1];
	struct inoset s = INOSET_INIT;
	unsigned long seed = 7;
	size_t count = 0;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		uint64_t ino;

		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		ino = 1 + (seed >> 33) % N;
		if ((seed >> 20) & 1) {
			assert_int_equal(inoset_add(&s, ino), 0);
			count += !in[ino];
			in[ino] = true;
		} else {
			assert_int_equal(inoset_take(&s, ino), in[ino]);
			count -= in[ino];
			in[ino] = false;
		}
		assert_int_equal(s.n, count);
	}
	for (uint64_t ino = 1; ino <= N; ino++)
		assert_int_equal(inoset_take(&s, ino), in[ino]);
	assert_int_equal(s.n, 0);
	assert_false(inoset_take(&s, 1));
	inoset_release(&s);
	assert_false(inoset_take(&s, 1));
	assert_int_equal(inoset_add(&s, 42), 0);
	assert_true(inoset_take(&s, 42));
	inoset_release(&s);
}

static void test_consecutive_inodes_in_and_out(void **state)
{
	struct inoset s = INOSET_INIT;

	(void)state;
	for (uint64_t ino = 2; ino < 20000; ino++)
		assert_int_equal(inoset_add(&s, ino), 0);
	for (uint64_t ino = 2; ino < 20000; ino += 2)
		assert_true(inoset_take(&s, ino));
	for (uint64_t ino = 2; ino < 20000; ino++)
		assert_int_equal(inoset_take(&s, ino), ino % 2 == 1);
	assert_int_equal(s.n, 0);
	inoset_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_agrees_with_an_array),
		cmocka_unit_test(test_consecutive_inodes_in_and_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
