/*
 * commands: the client subcommands that live in their own files, for the
 * dispatcher in tds.c.  Each run function takes the argv of its command
 * (argv[0] is the command name, options parsed with getopt_long) and
 * returns the process exit status; each help function prints the usage.
 *
 * Exit status, common to all commands: 0 success, 1 the operation failed
 * (the message says why), 2 usage error, 3 timeout (session commands);
 * `verify`, `bundle`, `log head` and `audit log-*` add 4: what was read
 * is NOT valid (a signature, proof or token does not verify).
 */
#ifndef TDS_CLIENT_COMMANDS_H
#define TDS_CLIENT_COMMANDS_H

#include <stdio.h>

/* tds verify EVIDENCE [--file DOC] [--ttp-key-id HEX | --ttp-key PEM]
 * [--json]: check an evidence file offline (cmd_verify.c). */
int cmd_verify(int argc, char **argv);
void cmd_verify_help(FILE *out);

/* tds verify FILE also reads bundles and tree head files (--tsa-ca PEM). */

/* tds audit [--defaults-file FILE] exchanges|uploads|show ...: read the
 * audit views with the read-only auditor account (cmd_audit.c); the verbs
 * log-check and log-recompute go to the functions below. */
int cmd_audit(int argc, char **argv);
void cmd_audit_help(FILE *out);

/* The auditor's MariaDB option file and connection (cmd_audit.c), for
 * cmd_logaudit.c too: read-only, UTC, autocommit off. */
int audit_cnf_path(const char *flag, char *out, size_t outlen, char *err,
                   size_t errlen);
struct st_mysql;
struct st_mysql *audit_connect(const char *cnf, char *err, size_t errlen);
/* mysql_close() after wiping the password copies Connector/C keeps. */
void audit_close(struct st_mysql *db);

/* tds audit log-recompute [--ttp-key PEM] [--tsa-ca PEM]: rebuild the
 * evidence log from the audit views and check every head
 * (cmd_logaudit.c). */
int cmd_audit_log_recompute(int argc, char **argv);
void cmd_audit_log_recompute_help(FILE *out);

/* tds audit log-check OLD_HEAD NEW_HEAD: the log only grew (cmd_log.c). */
int cmd_audit_log_check(int argc, char **argv);
void cmd_audit_log_check_help(FILE *out);

/* tds bundle EVIDENCE [-o BUNDLE]: evidence + inclusion proof + signed
 * head in one file; tds log head [-o FILE]: the latest signed head
 * (cmd_log.c). */
int cmd_bundle(int argc, char **argv);
void cmd_bundle_help(FILE *out);
int cmd_log(int argc, char **argv);
void cmd_log_help(FILE *out);

#endif
