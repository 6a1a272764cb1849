/* cli — the iovpath command line's shared pieces: common options, the
 * connection to a host daemon, and printing a result as text or JSON.
 *
 * Common options, anywhere after the command: --host HOST (default: $IOVPATH_HOST,
 * else the only daemon in the run directory), --run-dir DIR (default:
 * $IOVPATH_RUN_DIR, else /run/iovpath), --json. cli_opts_parse() takes them
 * out of argv and leaves the command's own words in order.
 *
 * Errors: commands print what was wrong and what to do on stderr and return
 * 1 (a failure) or 2 (a usage error).
 */
#ifndef IOVPATH_CLI_H
#define IOVPATH_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "host/mgmt.h"

struct cli_opts {
	const char *host;
	const char *run_dir;
	bool json;
	int argc; /* the words left */
	char *argv[64];
};

/* Returns 0, or 2 after a usage message. */
int cli_opts_parse(struct cli_opts *o, int argc, char **argv);
/* Connect to the host's daemon; NULL after a message on stderr. */
struct mgmt_client *cli_connect(struct cli_opts *o);
/* One request: 0 with *@res (may be NULL), or 1 after printing the daemon's
 * error with its hint. */
int cli_call(struct mgmt_client *c, const char *op, json_t *args, json_t **res);
/* Print @v: with --json as JSON, else as text (scalars "key: value", arrays
 * of objects as tables). */
void cli_print(const struct cli_opts *o, json_t *v);

int cli_cmd_ctl(const char *noun, int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_capture(int argc, char **argv);
int cli_cmd_events(int argc, char **argv);
int cli_cmd_lab(int argc, char **argv);

#endif
