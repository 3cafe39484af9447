/* Process-level helpers the worker and supervisor need and Bun does not offer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <linux/filter.h>
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
	/* The parent may have gone before the prctl took effect. (PID 1 may be the parent itself, a
	 * supervisor in a PID namespace: one gone earlier is seen by its child as stdin's end.) */
	if (getppid() != parent)
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

/* flock(LOCK_EX | LOCK_NB): -EWOULDBLOCK while another open file description holds it. */
MCR_API int mcr_file_lock(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
}

/* Capabilities are per thread: these act on the calling thread, which in Bun is the JavaScript
 * thread that also spawns the children. keep is a mask of CAP_* bits (all below 32). */
static int caps_set(uint32_t eff, uint32_t perm, uint32_t inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = eff, .permitted = perm, .inheritable = inh }
	};
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Leaves `keep` permitted, inheritable and ambient (so that exec'd children hold it effective)
 * and nothing effective here; every other capability goes from this thread's sets. */
MCR_API int mcr_proc_caps_pass_only(uint32_t keep)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	int err = caps_set(0, keep, keep);
	if (err)
		return err;
	for (int c = 0; c < 32; c++)
		if ((keep >> c) & 1 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return -errno;
	return 0;
}

/* From root to uid/gid, with extra_gid (UINT32_MAX: none) as the one supplementary group, keeping
 * `keep` permitted in this thread; glibc changes the ids of every thread, and the others lose all
 * their capabilities with it. */
MCR_API int mcr_proc_switch_user(uint32_t uid, uint32_t gid, uint32_t extra_gid, uint32_t keep)
{
	gid_t extra = extra_gid;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(extra_gid == UINT32_MAX ? 0 : 1, &extra) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -errno;
	return mcr_proc_caps_pass_only(keep);
}

/* A UDP socket bound to addr:port (network order) that keeps the port for a unicast input: the
 * kernel then hands the datagrams to it rather than answering with ICMP (or ICMPv6) port
 * unreachable, and no other process can take them. The relay reads them off the packet ring, so
 * this socket is never read: a filter that drops all keeps its queue empty. No SO_REUSEADDR, so
 * that a process already on the port is found (-EADDRINUSE). Returns the socket or -errno. */
static int port_hold(int family, const struct sockaddr *sa, socklen_t len)
{
	struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop };
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int on = 1;
	/* An IPv6 socket on its own address only: never the IPv4-mapped datagrams besides. */
	if ((family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    bind(fd, sa, len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

MCR_API int mcr_port_hold(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = addr };
	return port_hold(AF_INET, (struct sockaddr *)&sa, sizeof(sa));
}

MCR_API int mcr_port_hold6(const uint8_t *addr, uint32_t scope, uint16_t port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port),
				   .sin6_scope_id = scope };
	memcpy(&sa.sin6_addr, addr, 16);
	return port_hold(AF_INET6, (struct sockaddr *)&sa, sizeof(sa));
}

/* CLOCK_MONOTONIC in ns, the clock of the workers' times (a merge input's last packet), for the
 * supervisor to tell how long ago they were: Bun's clocks count from the process's start. */
MCR_API int mcr_clock_monotonic(uint64_t *out)
{
	*out = mcr__clock_ns(CLOCK_MONOTONIC);
	return 0;
}
