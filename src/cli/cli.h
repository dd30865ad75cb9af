/*
 * cli.h — the yiqiban command line: a table of commands (main.c), each in
 * its own function. Commands print results to stdout and errors to stderr,
 * and return the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef YQ_CLI_H
#define YQ_CLI_H

#include "base/err.h"

struct db_pool;

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;   /* synopsis lines */
	const char *help;    /* description, man-page style */
};

/* Print "yiqiban: message (field)" for an error. */
void cli_error(const struct err *e);
/* Open a pool on a database that must exist and be migrated to the latest version. */
int cli_open_pool(const char *db, struct db_pool **out, struct err *e);

int cmd_serve(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_grid(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_routes(int argc, char **argv);
int cmd_version(int argc, char **argv);

#define YIQIBAN_VERSION "0.1.0"

#endif
