/*
 * commands: the client subcommands that live in their own files, for the
 * dispatcher in tds.c.  Each run function takes the argv of its command
 * (argv[0] is the command name, options parsed with getopt_long) and
 * returns the process exit status; each help function prints the usage.
 *
 * Exit status, common to all commands: 0 success, 1 the operation failed
 * (the message says why), 2 usage error; `verify` adds 4: the evidence was
 * read and is NOT valid.
 */
#ifndef TDS_CLIENT_COMMANDS_H
#define TDS_CLIENT_COMMANDS_H

#include <stdio.h>

/* tds verify EVIDENCE [--file DOC] [--ttp-key-id HEX | --ttp-key PEM]
 * [--json]: check an evidence file offline (cmd_verify.c). */
int cmd_verify(int argc, char **argv);
void cmd_verify_help(FILE *out);

/* tds audit [--defaults-file FILE] exchanges|uploads|show ...: read the
 * audit views with the read-only auditor account (cmd_audit.c). */
int cmd_audit(int argc, char **argv);
void cmd_audit_help(FILE *out);

#endif
