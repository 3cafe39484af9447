/* SPDX-License-Identifier: MIT */
/* The filler pattern both the sender (writes it) and the receiver (checks it) copy from. */
#include "internal.h"

uint8_t mcr__pattern[MCR_PATTERN_LEN];
static int pattern_ready;

void mcr__pattern_init(void)
{
	if (pattern_ready)
		return;
	for (uint32_t i = 0; i < MCR_PATTERN_LEN; i++)
		mcr__pattern[i] = (uint8_t)i;
	pattern_ready = 1;
}
