/* Yandex.Tank's INI configs (load.ini: [phantom] address=, rps_schedule=, headers=, uris=,
 * [autostop] autostop=, ...), read into the YAML document the same file would be as a
 * load.yaml, so that config.c maps both with one set of rules and one set of messages.
 * Every node of the document carries its place in the INI text (line, column), so errors
 * name FILE:LINE:COL of the INI file. Format and mapping: docs/config.md.
 *
 * INI as Tank's Python ConfigParser reads it: "[section]" lines; "key = value" or
 * "key: value" (white space around both trimmed, keys lower-cased); lines that start with
 * white space continue the previous value (joined with a newline: uris=, headers=); lines whose
 * first non-blank character is '#' or ';' are comments. Pure: a buffer in, a document or a
 * positioned error out. */
#ifndef MT_RUNSPEC_INI_H
#define MT_RUNSPEC_INI_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "mortar/error.h"

#define MT_INI_MAX_LINE 65536 /* bytes in one line */

/* Whether buf looks like an INI file: its first line that is not blank or a comment is a
 * "[section]" header (a YAML file cannot start so and mean a config). */
bool mt__ini_detect(const char *buf, size_t len);

/* Builds *doc (initialised here; the caller deletes it with yaml_document_delete on MT_OK)
 * from len bytes of INI text. Sections map to mappings of plain scalars; in [phantom],
 * rps_schedule= / instances_schedule= become load_profile: {load_type, schedule}. Returns
 * MT_OK; MT_EPARSE with err->line, err->col (1-based) and err->msg; MT_ENOMEM. */
int mt__ini_to_yaml(const char *buf, size_t len, yaml_document_t *doc, mt_parse_err_t *err);

#endif
