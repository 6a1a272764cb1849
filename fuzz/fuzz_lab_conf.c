/* libFuzzer target: lab_conf_parse() on arbitrary bytes (a config file from
 * anybody: `iovpath lab up FILE` runs as root). Every refusal must say where
 * and why ("fuzz.conf:LINE: …" or "fuzz.conf: …"); every accepted conf must
 * keep the rules the format promises, and write back to text that parses to
 * the same conf.
 *
 * Input: the file's bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab_conf.h"

static void check_rules(const struct lab_conf *c)
{
	uint32_t per_host[LAB_MAX_HOSTS] = { 0 };

	if (!c->network_line || c->nhosts > LAB_MAX_HOSTS || c->nvms > LAB_MAX_VMS ||
	    c->nexts > LAB_MAX_EXTS)
		abort();
	for (uint32_t i = 0; i < c->nvms; i++) {
		const struct lab_vm *vm = &c->vms[i];

		if (vm->host >= c->nhosts || (vm->ip >> 17) != (LAB_NET_BASE >> 17) ||
		    vm->plen < 15 || vm->plen > 30 || vm->vlan > 4094 || (vm->mac[0] & 1))
			abort();
		per_host[vm->host]++;
		for (uint32_t j = 0; j < i; j++)
			if (c->vms[j].ip == vm->ip || !memcmp(c->vms[j].mac, vm->mac, 6) ||
			    !strcmp(c->vms[j].name, vm->name) ||
			    !strcmp(c->vms[j].netns, vm->netns))
				abort();
	}
	for (uint32_t i = 0; i < c->nhosts; i++)
		if (per_host[i] != c->hosts[i].nvms || per_host[i] > LAB_MAX_VMS_PER_HOST ||
		    c->hosts[i].vfs > LAB_MAX_VFS)
			abort();
	for (uint32_t i = 0; i < c->nexts; i++)
		if ((c->exts[i].ip >> 17) != (LAB_NET_BASE >> 17) || c->exts[i].vlan > 4094)
			abort();
}

static char *write_conf(const struct lab_conf *c, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);

	if (!f || lab_conf_write(c, f) != 0)
		abort();
	fclose(f);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	char err[256], *out1, *out2;
	struct lab_conf *c, *c2;
	size_t n1, n2;

	c = lab_conf_parse((const char *)in, len, "fuzz.conf", err, sizeof(err));
	if (!c) {
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort(); /* every refusal says where */
		return 0;
	}
	check_rules(c);
	out1 = write_conf(c, &n1);
	c2 = lab_conf_parse(out1, n1, "written", err, sizeof(err));
	if (!c2)
		abort(); /* what the writer writes, the parser takes */
	out2 = write_conf(c2, &n2);
	if (n1 != n2 || memcmp(out1, out2, n1) != 0 || c->nvms != c2->nvms ||
	    c->nhosts != c2->nhosts || c->nexts != c2->nexts)
		abort();
	free(out1);
	free(out2);
	lab_conf_free(c);
	lab_conf_free(c2);
	return 0;
}
