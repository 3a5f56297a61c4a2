/*
 * tests/host/scale_test.c - kernel/scale.c's mult and shift, against exact
 * 128-bit arithmetic: the conversions the clock and the timer make (TSC
 * ticks to ns, ns to APIC timer clocks) at the rates seen in QEMU and on
 * hardware, over a range of inputs up to centuries of TSC ticks.
 */
#include "kernel/scale.h"
#include "tests/host/htest.h"

static const uint64_t rates[] = {
	1, 3, 1000000, 25000000, 100000000, 999999937, 1000000000, 1000046000,
	2596119000ull, 3999999999ull, 5000000000ull, 1ull << 40,
};

/* Return: in * to / from, exactly, rounded down. */
static uint64_t exact(uint64_t in, uint64_t from, uint64_t to)
{
	return (uint64_t)((unsigned __int128)in * to / from);
}

/* |got - want| <= 1 + want / 2^31: the error kernel/scale.c promises for
 * a from_hz below 2^32 (ratios where the result fits in 64 bits). */
static bool close(uint64_t got, uint64_t want)
{
	uint64_t err = got > want ? got - want : want - got;
	return err <= 1 + (want >> 31);
}

HTEST(matches_exact_arithmetic)
{
	static const uint64_t inputs[] = {
		0, 1, 2, 999, 1000000, 123456789, 1ull << 32, 3ull << 40,
		1ull << 52, 1ull << 56,
	};
	unsigned bad = 0;

	for (unsigned f = 0; f < sizeof(rates) / sizeof(rates[0]); f++) {
		if (rates[f] >= 1ull << 32)
			continue;
		for (unsigned t = 0; t < sizeof(rates) / sizeof(rates[0]); t++) {
			struct scale s;
			scale_init(&s, rates[f], rates[t]);
			for (unsigned i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
				unsigned __int128 w = (unsigned __int128)inputs[i] * rates[t] / rates[f];
				if (w >> 64)
					continue;	/* the caller keeps results in 64 bits */
				uint64_t got = scale_apply(&s, inputs[i]);
				if (!close(got, (uint64_t)w) && bad++ < 8)
					printf("    # %llu at %llu Hz -> %llu Hz: %llu, want %llu\n",
					       (unsigned long long)inputs[i], (unsigned long long)rates[f],
					       (unsigned long long)rates[t], (unsigned long long)got,
					       (unsigned long long)w);
			}
		}
	}
	HEXPECT_EQ(bad, 0);
}

HTEST(equal_rates_are_the_identity)
{
	struct scale s;

	scale_init(&s, 1000000000, 1000000000);
	HEXPECT_EQ(scale_apply(&s, 0), 0);
	HEXPECT_EQ(scale_apply(&s, 12345), 12345);
	HEXPECT_EQ(scale_apply(&s, ~0ull), ~0ull);
}

HTEST(tsc_to_ns_over_a_century_is_within_a_nanosecond_a_second)
{
	struct scale s;
	const uint64_t hz = 2596119000ull, century = hz * 3600 * 24 * 36525;

	scale_init(&s, hz, 1000000000);
	uint64_t want = exact(century, hz, 1000000000);
	uint64_t got = scale_apply(&s, century);
	HEXPECT_TRUE((got > want ? got - want : want - got) <= want / 1000000000 + 1);
	/* Monotonic in its input, at the smallest steps. */
	HEXPECT_TRUE(scale_apply(&s, century - 1) <= got);
	HEXPECT_EQ(scale_apply(&s, hz), 1000000000);
}

int main(void)
{
	return htest_main("scale");
}
