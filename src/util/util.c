/* util — see util.h. */
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int util_log_level = UTIL_LOG_WARN;

void util_copy_block(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

uint64_t util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void util_log(int level, const char *module, const char *fmt, ...)
{
	static const char *const names[] = { "ERR", "WARN", "INFO", "DEBUG" };
	char line[512];
	va_list ap;
	int n;

	if (level > util_log_level)
		return;
	n = snprintf(line, sizeof(line), "iovpath[%d] %s %s: ", (int)getpid(), names[level],
	             module);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

int util_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds < 0 || nfds > 8)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.space;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);

		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EMSGSIZE;
		if (errno != EINTR)
			return -errno;
	}
}

static void close_cmsg_fds(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fd;

		for (size_t i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

ssize_t util_recv_fds(int sock, void *buf, size_t len, int *fds, int nfds_max, int *nfds,
                      int timeout_ms)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int got = 0;

	for (int i = 0; i < nfds_max; i++)
		fds[i] = -1;
	if (nfds)
		*nfds = 0;
	for (;;) {
		int rc = poll(&pfd, 1, timeout_ms);

		if (rc > 0)
			break;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
	msg.msg_control = ctl.space;
	msg.msg_controllen = sizeof(ctl.space);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_cmsg_fds(&msg);
		return -EPROTO;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (got + (int)cnt > nfds_max) {
			close_cmsg_fds(&msg);
			for (int i = 0; i < nfds_max; i++)
				fds[i] = -1;
			return -EPROTO;
		}
		memcpy(fds + got, CMSG_DATA(c), cnt * sizeof(int));
		got += (int)cnt;
	}
	if (nfds)
		*nfds = got;
	return n;
}

int util_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int util_cpus_parse(const char *list, struct util_cpus *cpus, char *err, size_t errlen)
{
	const char *p = list;

	memset(cpus, 0, sizeof(*cpus));
	if (!list || !*list)
		goto bad;
	for (;;) {
		unsigned long a, b;
		char *end;

		if (*p < '0' || *p > '9')
			goto bad;
		a = b = strtoul(p, &end, 10);
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				goto bad;
			b = strtoul(end + 1, &end, 10);
		}
		if (a >= UTIL_CPUS_MAX || b >= UTIL_CPUS_MAX || b < a) {
			snprintf(err, errlen,
			         "CPU list '%.40s': %lu-%lu: CPUs 0..%u, ranges ascending", list, a,
			         b, UTIL_CPUS_MAX - 1);
			return -EINVAL;
		}
		for (unsigned long c = a; c <= b; c++)
			cpus->bits[c / 64] |= 1ull << (c % 64);
		if (!*end)
			return 0;
		if (*end != ',')
			goto bad;
		p = end + 1;
	}
bad:
	snprintf(err, errlen,
	         "CPU list '%.40s': want N, N-M or a list of them joined by ',' "
	         "(as taskset -c: 1, 0-3, 1,3)",
	         list ? list : "");
	return -EINVAL;
}

int util_datapath_cpus(const char *list, char *err, size_t errlen)
{
	struct util_cpus cpus;
	cpu_set_t set;
	int rc = util_cpus_parse(list, &cpus, err, errlen);

	if (rc)
		return rc;
	CPU_ZERO(&set);
	for (unsigned int c = 0; c < UTIL_CPUS_MAX && c < CPU_SETSIZE; c++)
		if (cpus.bits[c / 64] >> (c % 64) & 1)
			CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		rc = -errno;
		snprintf(err, errlen, "CPUs %.40s: %s%s", list, strerror(errno),
		         errno == EINVAL ? " (none of them is online here: see nproc, lscpu)" : "");
		return rc;
	}
	if (sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){ 0 })) {
		rc = -errno;
		snprintf(err, errlen, "SCHED_BATCH: %s", strerror(errno));
		return rc;
	}
	return 0;
}

uint64_t util_spin_ns(uint64_t ns)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) || CPU_COUNT(&set) > 1 ? ns : 0;
}

void util_cpus_self(char *buf, size_t len)
{
	cpu_set_t set;
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (int c = 0; c < CPU_SETSIZE && n < len; c++) {
		int e = c;

		if (!CPU_ISSET(c, &set))
			continue;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set))
			e++;
		n += (size_t)snprintf(buf + n, len - n, e > c ? "%s%d-%d" : "%s%d", n ? "," : "", c,
		                      e);
		c = e;
	}
}

int util_netns_enter(const char *name, int *saved)
{
	char path[256];
	int fd, rc;

	*saved = -1;
	if (!name || !*name)
		return 0;
	if (strchr(name, '/') ||
	    snprintf(path, sizeof(path), "/var/run/netns/%s", name) >= (int)sizeof(path))
		return -EINVAL;
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return -errno;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		close(*saved);
		*saved = -1;
		return rc;
	}
	close(fd);
	return 0;
}

void util_netns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET))
		log_err("util", "cannot return to the original network namespace: %s",
		        strerror(errno));
	close(saved);
}

int util_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (strlen(s) != 17)
		return -EINVAL;
	/* %x alone takes a sign, spaces and "0x": only hex digits and ':' here */
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
	           &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

void util_mac_fmt(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
	         mac[5]);
}
