/* Process-level helpers the worker and supervisor need and Bun does not offer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "internal.h"

/* sched_setaffinity(0) pins one thread, and a Bun process already runs several (JIT, GC, I/O):
 * pin each one listed in /proc/self/task. Threads made later inherit the mask of their maker. */
MCR_API int mcr_affinity_pin(int cpu)
{
	cpu_set_t set;
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	int err = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		pid_t tid = (pid_t)atoi(e->d_name);
		if (sched_setaffinity(tid, sizeof(set), &set) < 0 && errno != ESRCH)
			err = -errno;
	}
	closedir(d);
	return err;
}

/* The worker dies with its supervisor: no orphan keeps a ring open. */
MCR_API int mcr_proc_parent_death(int signo)
{
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, signo) < 0)
		return -errno;
	/* The parent may have gone before the prctl took effect. */
	if (getppid() != parent || parent == 1)
		return -ESRCH;
	return 0;
}

/* sd_notify(3) without libsystemd: one datagram; '@' names an abstract socket. */
MCR_API int mcr_notify_send(const char *path, const char *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen = strlen(path);
	if (plen == 0 || plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, plen);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t r = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen));
	int err = r < 0 ? -errno : 0;
	close(fd);
	return err;
}
