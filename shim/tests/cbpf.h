/* A small interpreter for the classic BPF that filter.c emits, for tests: it plays what the
 * kernel knows of a frame besides its bytes (packet type, a VLAN tag taken off), which a socket
 * pair cannot. Shared by test_filter.c and the filter fuzzer. */
#ifndef MCR_TEST_CBPF_H
#define MCR_TEST_CBPF_H

#include <stdint.h>
#include <linux/filter.h>

/* What the kernel knows of a frame besides its bytes. */
struct cbpf_meta {
	uint32_t pkttype;
	int tagged;
	uint16_t tci;
};

static int cbpf_load(const uint8_t *f, uint32_t len, const struct cbpf_meta *m, uint32_t size,
		     uint32_t k, uint32_t *a)
{
	if (k >= (uint32_t)SKF_AD_OFF) {
		switch (k - SKF_AD_OFF) {
		case SKF_AD_PKTTYPE:
			*a = m->pkttype;
			return 0;
		case SKF_AD_VLAN_TAG:
			*a = m->tci;
			return 0;
		case SKF_AD_VLAN_TAG_PRESENT:
			*a = (uint32_t)m->tagged;
			return 0;
		}
		return -1;
	}
	if (k + size > len || k + size < k)
		return -1;
	*a = 0;
	for (uint32_t i = 0; i < size; i++)
		*a = *a << 8 | f[k + i];
	return 0;
}

enum { CBPF_OK, CBPF_UNKNOWN, CBPF_OFF_END, CBPF_BAD_JUMP };

/* Runs the subset of cBPF the builder emits; *ret is what the program returns (0: turned away),
 * as the kernel would: a load past the end returns 0. CBPF_OK, or why the program is not one the
 * kernel would run as the builder meant (an instruction this subset lacks, running off the end, a
 * jump past it); *at is then the instruction. */
static int cbpf_run(const struct sock_filter *p, int n, const uint8_t *f, uint32_t len,
		    const struct cbpf_meta *m, uint32_t *ret, int *at)
{
	uint32_t a = 0, mem[BPF_MEMWORDS] = { 0 };
	*ret = 0;
	for (int pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &p[pc];
		*at = pc;
		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
		case BPF_LD | BPF_H | BPF_ABS:
		case BPF_LD | BPF_B | BPF_ABS: {
			uint32_t size = BPF_SIZE(i->code) == BPF_W   ? 4
					: BPF_SIZE(i->code) == BPF_H ? 2
								     : 1;
			if (cbpf_load(f, len, m, size, i->k, &a) < 0)
				return CBPF_OK;
			break;
		}
		case BPF_LD | BPF_W | BPF_LEN:
			a = len;
			break;
		case BPF_LD | BPF_MEM:
			if (i->k >= BPF_MEMWORDS)
				return CBPF_UNKNOWN;
			a = mem[i->k];
			break;
		case BPF_ST:
			if (i->k >= BPF_MEMWORDS)
				return CBPF_UNKNOWN;
			mem[i->k] = a;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= i->k;
			break;
		case BPF_JMP | BPF_JA:
			if (i->k >= (uint32_t)(n - pc - 1))
				return CBPF_BAD_JUMP;
			pc += (int)i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
		case BPF_JMP | BPF_JGE | BPF_K:
		case BPF_JMP | BPF_JSET | BPF_K: {
			int taken = BPF_OP(i->code) == BPF_JEQ	 ? a == i->k
				    : BPF_OP(i->code) == BPF_JGE ? a >= i->k
								 : (a & i->k) != 0;
			int off = taken ? i->jt : i->jf;
			if (off >= n - pc - 1)
				return CBPF_BAD_JUMP;
			pc += off;
			break;
		}
		case BPF_RET | BPF_K:
			*ret = i->k;
			return CBPF_OK;
		default:
			return CBPF_UNKNOWN;
		}
	}
	return CBPF_OFF_END;
}

#endif
