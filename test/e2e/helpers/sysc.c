// sysc NR [FORKS]: makes system call NR (no arguments) once, or in FORKS
// child processes one after the other, each its own process so that a
// seccomp kill takes only that child. Built static by the e2e test (the
// image has no compiler), so a unit's filter sees only the call itself.
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: sysc NR [FORKS]\n");
		return 2;
	}
	long nr = atol(argv[1]);
	int forks = argc > 2 ? atoi(argv[2]) : 0;
	if (forks == 0) {
		syscall(nr, 0, 0, 0);
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
			syscall(nr, 0, 0, 0);
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) == pid && WIFSIGNALED(st))
			killed++;
	}
	printf("%d of %d children killed by a signal\n", killed, forks);
	return 0;
}
