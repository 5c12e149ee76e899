/* `mortar run --config FILE`: a YAML or JSON file (mortar's own keys, or a Yandex.Tank
 * load.yaml) turned into long command-line options ("--name", "value") that cmd_run.c's
 * getopt_long loop consumes before the real flags, so flags override the file and every value
 * is checked in one place. Formats and mapping: docs/config.md; design: docs/adr/0009.
 *
 * The parser is pure (a buffer in, argv or a positioned error out); mt__config_load only adds
 * reading the file. Nothing here prints: warnings are returned to the caller. */
#ifndef MT_RUNSPEC_CONFIG_H
#define MT_RUNSPEC_CONFIG_H

#include <stddef.h>

#include "mortar/error.h"

#define MT_CONFIG_MAX_BYTES (4 * 1024 * 1024) /* larger files are refused (MT_EPARSE) */
#define MT_CONFIG_MAX_ARGS  200000            /* argv entries one file may add */

/* Where an appended argv entry came from in the file (1-based; the key's position for
 * "--name" entries, the value's for values). */
typedef struct mt__config_src {
    int line;
    int col;
    int multiline; /* a value (or one item of it) from a scalar over several lines */
} mt__config_src_t;

/* What a load found besides the options. Zero it before the call; release with
 * mt__config_info_dispose (also after a failed call). */
typedef struct mt__config_info {
    int first;             /* index in *argv of the first entry appended by the call */
    int n;                 /* entries appended: argv[first] .. argv[first + n - 1] */
    mt__config_src_t *src; /* n entries: src[i] is where argv[first + i] came from */
    char **warnings;       /* nwarnings lines for people, each "FILE:LINE:COL: text" */
    size_t nwarnings;      /* (Tank settings mortar ignores, and how it differs) */
    /* Errors that stand only when the command line does not make up for them (line 0: none):
     * need_url: the file's address is unusable (a placeholder), fine when a URL argument is
     * given; need_ammo: a Tank file names no requests, fine with --ammo or --uri (as
     * `yandex-tank -c load.yaml ammo.txt`). */
    mt_parse_err_t need_url, need_ammo;
} mt__config_info_t;

/* Loads FILE and appends "--name" / "value" pairs (and lone "--flag"s for booleans) to *argv,
 * a malloc'd, NULL-terminated array of malloc'd strings with *argc entries (*argv may be NULL
 * when *argc is 0); *argc is updated. The URL, if the file gives one, is returned in *url
 * (malloc'd, the caller frees it), else *url = NULL; *url is overwritten, not freed.
 * Returns MT_OK; MT_EPARSE for syntax and schema errors, with err->line and err->col (1-based)
 * and err->msg (no file name: print "FILE:LINE:COL: MSG", see mt__config_format_err);
 * MT_ESYS when the file cannot be read (err->msg names the file and the reason, line = 0);
 * MT_ENOMEM. On error *argc and the entries of *argv are as before the call (the array itself
 * may have been moved by realloc) and *url is NULL. */
int mt__config_load(const char *path, int *argc, char ***argv, char **url, mt_parse_err_t *err);

/* mt__config_load, and info (may be NULL) receives the warnings and each entry's origin. */
int mt__config_load_info(const char *path, int *argc, char ***argv, char **url,
                         mt__config_info_t *info, mt_parse_err_t *err);

/* The parser behind mt__config_load: buf holds len bytes (need not be NUL-terminated); name is
 * the file name used in warnings. Same results as mt__config_load_info; never MT_ESYS. */
int mt__config_parse(const char *buf, size_t len, const char *name, int *argc, char ***argv,
                     char **url, mt__config_info_t *info, mt_parse_err_t *err);

/* The closest of names to key when it is close enough to be a typo ("did you mean"), else
 * NULL ('-' and '_' are not told apart by the callers' tables: they normalise first). */
const char *mt__config_suggest(const char *key, const char *const *names, size_t n);

/* Frees argv[0..argc-1] and argv itself (either may be NULL). */
void mt__config_argv_free(int argc, char **argv);

/* Frees what info holds and zeroes it. */
void mt__config_info_dispose(mt__config_info_t *info);

/* The message for people: "FILE:LINE:COL: MSG" (or "FILE: MSG" without a position, or just
 * MSG for MT_ESYS, whose msg already names the file) into buf; returns buf. */
const char *mt__config_format_err(const char *path, int rc, const mt_parse_err_t *err, char *buf,
                                  size_t n);

#endif
