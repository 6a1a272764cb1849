/* Test harness helpers — see harness.h. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

const char *th_sock_path(void)
{
	static char path[108];
	static unsigned int n;
	const char *dir = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/iovpath-t%d-%u.sock", dir ? dir : "/tmp", (int)getpid(),
	         n++);
	return path;
}

pid_t th_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		/* A test that fails ends its process: the child goes with it
		 * (else it would keep the runner's output pipe open). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		_exit(fn(arg));
	}
	return pid;
}

int th_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

uint64_t th_env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}
