/* The `challenge` command's launcher, built by `make install` into .venv/bin/challenge.
 *
 * Why: Python takes 20-50 ms to start (more on a loaded machine) before any of the tool's code
 * runs, and a Ctrl-C in that time ends in a traceback from Python's own start-up (site.py) instead
 * of the tool's one line and exit 130. This launcher blocks SIGINT, then replaces itself with the
 * venv's Python running cli/main.py. A blocked signal stays pending across exec; main.py installs
 * its handler and unblocks SIGINT, so a Ctrl-C at any moment reaches that handler. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ENTRY[] =
    "import sys; sys.argv[0] = 'challenge'; "
    "from challengers.cli.main import main; sys.exit(main())";

int main(int argc, char **argv) {
    sigset_t interrupt;
    sigemptyset(&interrupt);
    sigaddset(&interrupt, SIGINT);
    sigprocmask(SIG_BLOCK, &interrupt, NULL);

    /* The venv's python sits beside this file (argv[0] may be a bare name found on PATH). */
    char python[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", python, sizeof python - 1);
    char *slash = length > 0 ? memrchr(python, '/', (size_t)length) : NULL;
    if (slash == NULL || (size_t)(slash - python) + sizeof "/python" > sizeof python) {
        fputs("challenge: cannot find the Python beside this launcher; run `make install`\n", stderr);
        return 3;
    }
    strcpy(slash + 1, "python");

    /* python -P -c ENTRY ARGS...: -P keeps the working directory off sys.path, as a console
     * script does. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (args == NULL) return 3;
    args[0] = python;
    args[1] = "-P";
    args[2] = "-c";
    args[3] = (char *)ENTRY;
    for (int i = 1; i < argc; i++) args[i + 3] = argv[i];
    execv(python, args);
    perror("challenge: cannot start the venv's python");
    return 3;
}
