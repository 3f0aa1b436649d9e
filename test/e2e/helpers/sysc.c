// sysc NR [FORKS [ARG...]]: makes system call NR once (with up to six
// arguments, numbers in C notation: 4096, 0x22, -1; missing ones are 0),
// or in FORKS child processes one after the other, each its own process
// so that a seccomp kill takes only that child. Built static by the e2e
// test (the image has no compiler), so a unit's filter sees only the call
// itself; also built -m32 (an i386 binary, its own syscall numbers) for
// the SystemCallArchitectures= scenario.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: sysc NR [FORKS [ARG...]]\n");
		return 2;
	}
	long nr = atol(argv[1]);
	int forks = argc > 2 ? atoi(argv[2]) : 0;
	long a[6] = {0};
	for (int i = 3; i < argc && i < 9; i++)
		a[i - 3] = strtol(argv[i], NULL, 0);
	if (forks == 0) {
		errno = 0;
		long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		printf("syscall %ld returned %ld, errno %d\n", nr, r, r == -1 ? errno : 0);
		return 0;
	}
	int killed = 0;
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) == pid && WIFSIGNALED(st))
			killed++;
	}
	printf("%d of %d children killed by a signal\n", killed, forks);
	return 0;
}
