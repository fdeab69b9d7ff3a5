/* The sandbox ("pause") process of every pod on the local cluster: blocks until SIGTERM/SIGINT,
 * reaps orphaned children meanwhile. Built statically by e2e/images/build.sh. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }
static void on_chld(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGCHLD, on_chld);
  for (;;) pause();
  return 0;
}
