/* lab_conf — the lab config parser; the format is in lab_conf.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab_conf.h"
#include "util/util.h"

#define MAX_WORDS 16u

/* The parser's state: the conf being built and where we are. */
struct parse {
	struct lab_conf *c;
	const char *fname;
	unsigned int line;
	char *err;
	size_t errlen;
	uint32_t cap_hosts, cap_vms, cap_exts;
};

static int perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fill the error as "FILE:LINE: message" (no line: "FILE: message"); -EINVAL. */
static int perr(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->errlen)
		return -EINVAL;
	if (p->line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->fname, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->fname);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- values ---- */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LAB_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* Devices a new namespace may start with (loopback, fallback tunnels): a
 * bridge port of that name could not be made. */
static const char *const reserved[] = { "lo",      "sit0",    "tunl0",   "ip6tnl0",  "gre0",
	                                "gretap0", "erspan0", "ip_vti0", "ip6_vti0", "ip6gre0" };

static int parse_name(struct parse *p, const char *what, const char *s, char *out)
{
	if (!name_ok(s))
		return perr(p,
		            "bad %s name '%.40s': use 1..%u characters of A-Z a-z 0-9 _ -, "
		            "starting with a letter or digit",
		            what, s, LAB_NAME_MAX);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(s, reserved[i]) == 0)
			return perr(
			    p, "the name '%s' is reserved (a device every namespace may have)", s);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* A decimal number in [lo, hi], digits only. */
static int parse_uint(struct parse *p, const char *what, const char *s, uint32_t lo, uint32_t hi,
                      uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return perr(p, "%s: empty number", what);
	for (const char *q = s; *q; q++) {
		if (*q < '0' || *q > '9')
			return perr(p, "%s: '%.40s' is not a decimal number", what, s);
		v = v * 10 + (uint64_t)(*q - '0');
		if (v > hi)
			return perr(p, "%s %.40s is out of range (%u..%u)", what, s, lo, hi);
	}
	if (v < lo)
		return perr(p, "%s %.40s is out of range (%u..%u)", what, s, lo, hi);
	*out = (uint32_t)v;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int parse_mac(struct parse *p, const char *s, uint8_t mac[6])
{
	bool zero = true;

	if (strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		mac[i] = (uint8_t)(hi << 4 | lo);
		zero = zero && !mac[i];
	}
	if (mac[0] & 1)
		return perr(p, "MAC %s is multicast (the low bit of the first octet is set)", s);
	if (zero)
		return perr(p, "MAC 00:00:00:00:00:00 is not a station address");
	return 0;
bad:
	return perr(p, "bad MAC '%.40s': expected six hex pairs like 02:00:00:00:00:01", s);
}

static int parse_ip(struct parse *p, const char *s, uint32_t *ip, uint8_t *plen)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	uint32_t len, mask, host;
	size_t n;

	if (!slash)
		return perr(p, "bad address '%.40s': expected A.B.C.D/PREFIX, e.g. 198.18.0.11/24",
		            s);
	n = (size_t)(slash - s);
	if (n >= sizeof(buf))
		return perr(p, "bad IPv4 address '%.40s'", s);
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return perr(p, "bad IPv4 address '%.40s'", buf);
	if (parse_uint(p, "prefix length", slash + 1, LAB_NET_PLEN, 30, &len))
		return -EINVAL;
	host = ntohl(a.s_addr);
	if ((host & ~((1u << (32 - LAB_NET_PLEN)) - 1)) != LAB_NET_BASE)
		return perr(p,
		            "address %s is outside 198.18.0.0/15: the lab uses only the "
		            "benchmarking range (RFC 2544), so it never clashes with real networks",
		            buf);
	mask = ~0u << (32 - len);
	if ((host & ~mask) == 0 || (host & ~mask) == ~mask)
		return perr(p, "address %s is the %s address of its /%u subnet", buf,
		            (host & ~mask) ? "broadcast" : "network", len);
	*ip = host;
	*plen = (uint8_t)len;
	return 0;
}

/* ---- the conf's tables ---- */

static int grow(struct parse *p, void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
	void *q;
	uint32_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	q = realloc(*arr, (size_t)ncap * elem);
	if (!q) {
		perr(p, "out of memory");
		return -ENOMEM;
	}
	memset((char *)q + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*arr = q;
	*cap = ncap;
	return 0;
}

/* Which object is called @name: its kind and line, or NULL. */
static const char *find_name(const struct lab_conf *c, const char *name, unsigned int *line)
{
	if (c->network_line && strcmp(c->network, name) == 0) {
		*line = c->network_line;
		return "network";
	}
	for (uint32_t i = 0; i < c->nhosts; i++)
		if (strcmp(c->hosts[i].name, name) == 0) {
			*line = c->hosts[i].line;
			return "host";
		}
	for (uint32_t i = 0; i < c->nvms; i++)
		if (strcmp(c->vms[i].name, name) == 0) {
			*line = c->vms[i].line;
			return "vm";
		}
	for (uint32_t i = 0; i < c->nexts; i++)
		if (strcmp(c->exts[i].name, name) == 0) {
			*line = c->exts[i].line;
			return "external";
		}
	return NULL;
}

/* Which object's namespace is @ns (a VM's netns included), or NULL. */
static const char *find_netns(const struct lab_conf *c, const char *ns, unsigned int *line)
{
	for (uint32_t i = 0; i < c->nvms; i++)
		if (strcmp(c->vms[i].netns, ns) == 0) {
			*line = c->vms[i].line;
			return c->vms[i].name;
		}
	return find_name(c, ns, line) ? ns : NULL;
}

/* A new object @name of kind @what: its name and namespace must be free. */
static int claim_name(struct parse *p, const char *what, const char *name)
{
	unsigned int line;
	const char *kind = find_name(p->c, name, &line), *owner;

	if (kind)
		return perr(p, "duplicate name '%s': already the %s declared on line %u", name,
		            kind, line);
	owner = find_netns(p->c, name, &line);
	if (owner)
		return perr(p, "%s %s: its namespace '%s' is already vm %s's (line %u)", what, name,
		            name, owner, line);
	return 0;
}

static const char *mac_user(const struct lab_conf *c, const uint8_t mac[6], unsigned int *line)
{
	for (uint32_t i = 0; i < c->nvms; i++)
		if (memcmp(c->vms[i].mac, mac, 6) == 0) {
			*line = c->vms[i].line;
			return c->vms[i].name;
		}
	for (uint32_t i = 0; i < c->nexts; i++)
		if (c->exts[i].has_mac && memcmp(c->exts[i].mac, mac, 6) == 0) {
			*line = c->exts[i].line;
			return c->exts[i].name;
		}
	return NULL;
}

static const char *ip_user(const struct lab_conf *c, uint32_t ip, unsigned int *line)
{
	for (uint32_t i = 0; i < c->nvms; i++)
		if (c->vms[i].ip == ip) {
			*line = c->vms[i].line;
			return c->vms[i].name;
		}
	for (uint32_t i = 0; i < c->nexts; i++)
		if (c->exts[i].ip == ip) {
			*line = c->exts[i].line;
			return c->exts[i].name;
		}
	return NULL;
}

/* MAC and IP of a new VM or external host must be free. */
static int claim_addrs(struct parse *p, const uint8_t *mac, uint32_t ip)
{
	unsigned int line;
	const char *user;
	char s[20];

	if (mac && (user = mac_user(p->c, mac, &line))) {
		lab_conf_fmt_mac(mac, s, sizeof(s));
		return perr(p, "duplicate MAC %s: already %s's (line %u)", s, user, line);
	}
	user = ip_user(p->c, ip, &line);
	if (user) {
		struct in_addr a = { htonl(ip) };

		inet_ntop(AF_INET, &a, s, sizeof(s));
		return perr(p, "duplicate address %s: already %s's (line %u)", s, user, line);
	}
	return 0;
}

static int find_host(struct parse *p, const char *what, const char *name, uint32_t *idx)
{
	for (uint32_t i = 0; i < p->c->nhosts; i++)
		if (strcmp(p->c->hosts[i].name, name) == 0) {
			*idx = i;
			return 0;
		}
	return perr(p, "%s: unknown host '%.40s' (declare it with `host %.40s` on an earlier line)",
	            what, name, name);
}

/* ---- declarations ---- */

/* Options "key value" after the object's name, each key at most once. */
struct opt {
	const char *key;
	const char *val;
};

static int parse_opts(struct parse *p, const char *what, char **w, int nw, struct opt *opts,
                      int nopts, const char *expected)
{
	for (int i = 0; i < nw; i += 2) {
		int k;

		for (k = 0; k < nopts; k++)
			if (strcmp(w[i], opts[k].key) == 0)
				break;
		if (k == nopts)
			return perr(p, "%s: unknown option '%.40s' (expected %s)", what, w[i],
			            expected);
		if (i + 1 >= nw)
			return perr(p, "%s: '%s' needs a value", what, opts[k].key);
		if (opts[k].val)
			return perr(p, "%s: '%s' given twice", what, opts[k].key);
		opts[k].val = w[i + 1];
	}
	return 0;
}

static int decl_lab(struct parse *p, char **w, int nw)
{
	if (nw != 2)
		return perr(p, "expected `lab NAME`");
	if (p->c->lab[0])
		return perr(p, "a second `lab` line (the lab is already called '%s')", p->c->lab);
	/* Its names are LAB_PREFIX "LAB-…": lab a's sweep would take lab a-b's. */
	if (strchr(w[1], '-'))
		return perr(p,
		            "bad lab name '%.40s': no '-' (`lab down --force` of a lab named "
		            "after the part before it would sweep this lab's %s… names too)",
		            w[1], LAB_PREFIX);
	return parse_name(p, "lab", w[1], p->c->lab);
}

static int decl_network(struct parse *p, char **w, int nw)
{
	struct lab_conf *c = p->c;

	if (nw != 2)
		return perr(p, "expected `network NAME`");
	if (c->network_line)
		return perr(
		    p, "a second `network` line (the lab has one physical network, '%s', line %u)",
		    c->network, c->network_line);
	if (parse_name(p, "network", w[1], c->network) || claim_name(p, "network", w[1])) {
		c->network[0] = '\0';
		return -EINVAL;
	}
	c->network_line = p->line;
	return 0;
}

static int decl_host(struct parse *p, char **w, int nw)
{
	struct lab_conf *c = p->c;
	struct lab_host h = { .port = LAB_PORT_VETH, .line = p->line };
	struct opt opts[] = { { "port", NULL }, { "cpus", NULL } };
	struct util_cpus cpus;
	char why[160];
	int rc;

	if (nw < 2)
		return perr(p, "expected `host NAME [port veth|tap] [cpus LIST]`");
	if (parse_name(p, "host", w[1], h.name) || claim_name(p, "host", w[1]))
		return -EINVAL;
	if (parse_opts(p, "host", w + 2, nw - 2, opts, 2, "port or cpus"))
		return -EINVAL;
	if (opts[0].val && strcmp(opts[0].val, "tap") == 0)
		h.port = LAB_PORT_TAP;
	else if (opts[0].val && strcmp(opts[0].val, "veth") != 0)
		return perr(p, "host %s: port '%.40s': expected veth or tap", h.name, opts[0].val);
	if (opts[1].val) {
		if (strlen(opts[1].val) >= sizeof(h.cpus))
			return perr(p, "host %s: cpus: a list of at most %zu characters", h.name,
			            sizeof(h.cpus) - 1);
		if (util_cpus_parse(opts[1].val, &cpus, why, sizeof(why)))
			return perr(p, "host %s: cpus: %s", h.name, why);
		snprintf(h.cpus, sizeof(h.cpus), "%s", opts[1].val);
	}
	if (c->nhosts >= LAB_MAX_HOSTS)
		return perr(p, "too many hosts (at most %u)", LAB_MAX_HOSTS);
	rc = grow(p, (void **)&c->hosts, &p->cap_hosts, c->nhosts, sizeof(h));
	if (rc)
		return rc;
	c->hosts[c->nhosts++] = h;
	return 0;
}

static int decl_nic(struct parse *p, char **w, int nw)
{
	struct lab_host *h;
	uint32_t idx, vfs;

	if (nw != 4 || strcmp(w[2], "vfs") != 0)
		return perr(p, "expected `nic HOST vfs N`");
	if (find_host(p, "nic", w[1], &idx))
		return -EINVAL;
	h = &p->c->hosts[idx];
	if (h->has_nic)
		return perr(p, "host %s already has a NIC (one physical port per host)", h->name);
	if (parse_uint(p, "vfs", w[3], 0, LAB_MAX_VFS, &vfs))
		return -EINVAL;
	h->has_nic = true;
	h->vfs = vfs;
	return 0;
}

static int decl_vm(struct parse *p, char **w, int nw)
{
	static const char expected[] = "host, mac, ip, vlan, netns";
	struct lab_conf *c = p->c;
	struct lab_vm vm = { .line = p->line };
	struct opt opts[] = { { "host", NULL },
		              { "mac", NULL },
		              { "ip", NULL },
		              { "vlan", NULL },
		              { "netns", NULL } };
	uint32_t vlan = 0;
	unsigned int line;
	const char *owner;
	int rc;

	if (nw < 2)
		return perr(
		    p, "expected `vm NAME host HOST mac MAC ip A.B.C.D/P [vlan V] [netns NS]`");
	if (parse_name(p, "vm", w[1], vm.name) || claim_name(p, "vm", w[1]))
		return -EINVAL;
	if (parse_opts(p, "vm", w + 2, nw - 2, opts, 5, expected))
		return -EINVAL;
	for (int k = 0; k < 3; k++)
		if (!opts[k].val)
			return perr(p, "vm %s: missing '%s' (a vm needs host, mac and ip)", vm.name,
			            opts[k].key);
	if (find_host(p, "vm", opts[0].val, &vm.host) || parse_mac(p, opts[1].val, vm.mac) ||
	    parse_ip(p, opts[2].val, &vm.ip, &vm.plen) ||
	    (opts[3].val && parse_uint(p, "vlan", opts[3].val, 1, 4094, &vlan)))
		return -EINVAL;
	vm.vlan = (uint16_t)vlan;
	if (opts[4].val) {
		if (parse_name(p, "netns", opts[4].val, vm.netns))
			return -EINVAL;
		owner = find_netns(c, vm.netns, &line);
		if (owner)
			return perr(p, "vm %s: namespace '%s' is already %s's (line %u)", vm.name,
			            vm.netns, owner, line);
	} else {
		memcpy(vm.netns, vm.name, sizeof(vm.netns));
	}
	if (claim_addrs(p, vm.mac, vm.ip))
		return -EINVAL;
	if (c->hosts[vm.host].nvms >= LAB_MAX_VMS_PER_HOST)
		return perr(p, "too many VMs for host %s (at most %u: one host switch port each)",
		            c->hosts[vm.host].name, LAB_MAX_VMS_PER_HOST);
	if (c->nvms >= LAB_MAX_VMS)
		return perr(p, "too many VMs (at most %u)", LAB_MAX_VMS);
	rc = grow(p, (void **)&c->vms, &p->cap_vms, c->nvms, sizeof(vm));
	if (rc)
		return rc;
	c->hosts[vm.host].nvms++;
	c->vms[c->nvms++] = vm;
	return 0;
}

static int decl_external(struct parse *p, char **w, int nw)
{
	struct lab_conf *c = p->c;
	struct lab_ext x = { .line = p->line };
	struct opt opts[] = { { "ip", NULL }, { "vlan", NULL }, { "mac", NULL } };
	uint32_t vlan = 0;
	int rc;

	if (nw < 2)
		return perr(p, "expected `external NAME ip A.B.C.D/P [vlan V] [mac MAC]`");
	if (parse_name(p, "external", w[1], x.name) || claim_name(p, "external", w[1]))
		return -EINVAL;
	if (parse_opts(p, "external", w + 2, nw - 2, opts, 3, "ip, vlan, mac"))
		return -EINVAL;
	if (!opts[0].val)
		return perr(p, "external %s: missing 'ip'", x.name);
	if (parse_ip(p, opts[0].val, &x.ip, &x.plen) ||
	    (opts[1].val && parse_uint(p, "vlan", opts[1].val, 1, 4094, &vlan)) ||
	    (opts[2].val && parse_mac(p, opts[2].val, x.mac)))
		return -EINVAL;
	x.vlan = (uint16_t)vlan;
	x.has_mac = opts[2].val != NULL;
	if (claim_addrs(p, x.has_mac ? x.mac : NULL, x.ip))
		return -EINVAL;
	if (c->nexts >= LAB_MAX_EXTS)
		return perr(p, "too many external hosts (at most %u)", LAB_MAX_EXTS);
	rc = grow(p, (void **)&c->exts, &p->cap_exts, c->nexts, sizeof(x));
	if (rc)
		return rc;
	c->exts[c->nexts++] = x;
	return 0;
}

static const struct {
	const char *kw;
	int (*fn)(struct parse *p, char **w, int nw);
} decls[] = {
	{ "lab", decl_lab }, { "network", decl_network }, { "host", decl_host },
	{ "nic", decl_nic }, { "vm", decl_vm },           { "external", decl_external },
};

/* One line (NUL-terminated, comment and newline already cut). */
static int parse_line(struct parse *p, char *s)
{
	char *w[MAX_WORDS], *save;
	int nw = 0;

	for (char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t')
			return perr(p, "control character 0x%02x in the line",
			            (unsigned int)(unsigned char)*q);
	for (char *tok = strtok_r(s, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (nw == (int)MAX_WORDS)
			return perr(p, "too many words (at most %u)", MAX_WORDS);
		w[nw++] = tok;
	}
	if (!nw)
		return 0;
	for (size_t i = 0; i < sizeof(decls) / sizeof(decls[0]); i++)
		if (strcmp(w[0], decls[i].kw) == 0)
			return decls[i].fn(p, w, nw);
	return perr(p, "unknown keyword '%.40s' (expected lab, network, host, nic, vm or external)",
	            w[0]);
}

struct lab_conf *lab_conf_parse(const char *text, size_t len, const char *fname, char *err,
                                size_t errlen)
{
	struct parse p = { .fname = fname ? fname : "<config>", .err = err, .errlen = errlen };
	char line[LAB_LINE_MAX + 1];
	size_t pos = 0;
	int rc = 0;

	if (errlen)
		err[0] = '\0';
	p.c = calloc(1, sizeof(*p.c));
	if (!p.c) {
		errno = ENOMEM;
		return NULL;
	}
	while (pos < len && !rc) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *hash;

		p.line++;
		if (n > LAB_LINE_MAX) {
			rc = perr(&p, "line longer than %u characters", LAB_LINE_MAX);
			break;
		}
		if (memchr(text + pos, '\0', n)) {
			rc = perr(&p, "NUL byte in the line (not a text file?)");
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		rc = parse_line(&p, line);
		pos += n + 1;
	}
	if (!rc && !p.c->network_line) {
		p.line = 0;
		rc = perr(&p, "no `network NAME` line: a lab needs its physical network");
	}
	if (rc) {
		lab_conf_free(p.c);
		errno = -rc;
		return NULL;
	}
	return p.c;
}

struct lab_conf *lab_conf_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct lab_conf *c = NULL;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	int e = 0;

	if (!f) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb = cap < (1u << 24) ? realloc(buf, cap ? cap * 2 : 4096) : NULL;

			if (!nb) {
				e = cap ? EFBIG : ENOMEM;
				snprintf(err, errlen, "%s: %s", path, strerror(e));
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		e = EIO;
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	c = lab_conf_parse(buf, len, path, err, errlen);
	e = c ? 0 : errno;
out:
	free(buf);
	fclose(f);
	errno = e;
	return c;
}

void lab_conf_free(struct lab_conf *c)
{
	if (!c)
		return;
	free(c->hosts);
	free(c->vms);
	free(c->exts);
	free(c);
}

int lab_conf_prefix(const struct lab_conf *c, char *buf, size_t len)
{
	int n;

	if (c->lab[0])
		n = snprintf(buf, len, "%s%s-", LAB_PREFIX, c->lab);
	else
		n = snprintf(buf, len, "%s", LAB_PREFIX);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int lab_conf_netns(const struct lab_conf *c, const char *name, char *buf, size_t len)
{
	int rc = lab_conf_prefix(c, buf, len);
	size_t n = strlen(buf);

	if (rc)
		return rc;
	if (n + strlen(name) >= len)
		return -ENAMETOOLONG;
	memcpy(buf + n, name, strlen(name) + 1);
	return 0;
}

void lab_conf_fmt_ip(uint32_t ip, uint8_t plen, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u/%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
	         ip & 0xff, plen);
}

void lab_conf_fmt_mac(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
	         mac[5]);
}

int lab_conf_write(const struct lab_conf *c, FILE *f)
{
	char ip[24], mac[20];

	if (c->lab[0])
		fprintf(f, "lab %s\n", c->lab);
	fprintf(f, "network %s\n", c->network);
	for (uint32_t i = 0; i < c->nhosts; i++) {
		const struct lab_host *h = &c->hosts[i];

		fprintf(f, "host %s port %s%s%s\n", h->name,
		        h->port == LAB_PORT_TAP ? "tap" : "veth", h->cpus[0] ? " cpus " : "",
		        h->cpus);
		if (h->has_nic)
			fprintf(f, "nic %s vfs %u\n", h->name, h->vfs);
	}
	for (uint32_t i = 0; i < c->nvms; i++) {
		const struct lab_vm *vm = &c->vms[i];

		lab_conf_fmt_ip(vm->ip, vm->plen, ip, sizeof(ip));
		lab_conf_fmt_mac(vm->mac, mac, sizeof(mac));
		fprintf(f, "vm %s host %s mac %s ip %s netns %s", vm->name, c->hosts[vm->host].name,
		        mac, ip, vm->netns);
		if (vm->vlan)
			fprintf(f, " vlan %u", vm->vlan);
		fputc('\n', f);
	}
	for (uint32_t i = 0; i < c->nexts; i++) {
		const struct lab_ext *x = &c->exts[i];

		lab_conf_fmt_ip(x->ip, x->plen, ip, sizeof(ip));
		fprintf(f, "external %s ip %s", x->name, ip);
		if (x->vlan)
			fprintf(f, " vlan %u", x->vlan);
		if (x->has_mac) {
			lab_conf_fmt_mac(x->mac, mac, sizeof(mac));
			fprintf(f, " mac %s", mac);
		}
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}
