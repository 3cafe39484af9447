/* What the libFuzzer harnesses share: an oracle that stops the run on the first broken promise,
 * and a reader that takes the fuzzer's bytes in turn (zeros once they run out). */
#ifndef MCR_FUZZ_H
#define MCR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* libFuzzer keeps the input that got here as a crash-* file: a failed promise is a crash. */
#define MUST(cond)                                                                                 \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: broken: %s\n", __FILE__, __LINE__, #cond);         \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

struct bytes {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t take8(struct bytes *b)
{
	if (b->n == 0)
		return 0;
	b->n--;
	return *b->p++;
}

static inline uint16_t take16(struct bytes *b)
{
	uint16_t hi = take8(b);
	return (uint16_t)(hi << 8 | take8(b));
}

static inline uint32_t take32(struct bytes *b)
{
	uint32_t hi = take16(b);
	return hi << 16 | take16(b);
}

#endif
