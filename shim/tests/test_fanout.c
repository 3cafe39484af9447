/* Fanout groups: a new group gets an id no group in the namespace has (never one that another
 * relay chose), its id can be read back, and others join it by that id. In a network namespace of
 * its own. Exit 0 pass, 1 fail, 77 skip. */
#include "lab.h"
#include "../mcr_shim.h"

#define N 4

int main(void)
{
	int r = lab_enter_private_lo();
	CHECK(r == 0, "private lo: %d", r);
	int lo = (int)if_nametoindex("lo");
	struct mcr_worker *w[N] = { 0 };
	for (int i = 0; i < N; i++) {
		r = mcr_worker_new(1, 1, 1 << 20, NULL, &w[i]);
		if (r == -EPERM || r == -ENOSYS)
			return 77;
		CHECK(r == 0, "mcr_worker_new: %d", r);
		if (r)
			return 1;
	}
	/* Another relay's groups, with ids it chose: the old scheme's pid-based base and base + 1. */
	int base = getpid() & 0xffff;
	int s0 = mcr_worker_input_add(w[0], lo, base);
	CHECK(s0 >= 0 && mcr_worker_input_fanout(w[0], s0) == base, "a fixed id: %d", s0);
	/* New groups: ids of their own, never base. */
	int s1 = mcr_worker_input_add(w[1], lo, MCR_FANOUT_NEW);
	int s2 = mcr_worker_input_add(w[2], lo, MCR_FANOUT_NEW);
	CHECK(s1 >= 0 && s2 >= 0, "new groups: %d %d", s1, s2);
	int id1 = mcr_worker_input_fanout(w[1], s1), id2 = mcr_worker_input_fanout(w[2], s2);
	CHECK(id1 >= 0 && id2 >= 0 && id1 != id2 && id1 != base && id2 != base,
	      "new ids %d %d, fixed %d", id1, id2, base);
	/* The rest of a relay's workers join by the id read back. */
	int s3 = mcr_worker_input_add(w[3], lo, id1);
	CHECK(s3 >= 0 && mcr_worker_input_fanout(w[3], s3) == id1, "joined %d: %d", id1,
	      mcr_worker_input_fanout(w[3], s3));
	/* Without fanout there is no group to read. */
	int s4 = mcr_worker_input_add(w[3], lo, -1);
	CHECK(s4 >= 0 && mcr_worker_input_fanout(w[3], s4) == -ENOENT, "no group: %d",
	      mcr_worker_input_fanout(w[3], s4));
	for (int i = 0; i < N; i++)
		mcr_worker_free(w[i]);
	if (failures)
		fprintf(stderr, "test_fanout: %d failures\n", failures);
	return failures ? 1 : 0;
}
