/* The lexer shared by the autostop (autostop.c) and threshold (threshold.c) expression
 * parsers: character classes, case-insensitive words, identifiers, HTTP code masks ("404",
 * "5xx", "xx", "0") and tag names, and the two lookups both evaluators make (a mask against a
 * status code, a tag name in the run's tags). Pure: no allocation, no I/O; each parser words
 * its own messages from the results. */
#ifndef MT_STATS_LEX_H
#define MT_STATS_LEX_H

#include <stdbool.h>
#include <stddef.h>

#define MT__LEX_MASK_MAX 3 /* characters of a code mask */

bool mt__lex_ws(char c);    /* space, \t \n \r \v \f */
bool mt__lex_digit(char c); /* 0-9 */
bool mt__lex_alpha(char c); /* ASCII letters */
char mt__lex_lower(char c); /* ASCII lower case */

/* Whether p[0..n) is w, ignoring ASCII case. */
bool mt__lex_word_is(const char *p, size_t n, const char *w);

/* Length of the identifier ([A-Za-z_][A-Za-z0-9_]*) at p; 0 when there is none. */
size_t mt__lex_ident_len(const char *p);

typedef enum mt__lex_rc {
    MT__LEX_OK,
    MT__LEX_TOO_LONG, /* mask: more than MT__LEX_MASK_MAX characters; tag: >= the cap */
    MT__LEX_BAD_CHAR, /* mask: not a digit or x; tag: a control character (*at says where) */
    MT__LEX_BAD_HTTP, /* mask: an HTTP mask must be 3 characters, all x, or "0" */
} mt__lex_rc_t;

/* A code mask from p[0..n) into out (lower case, NUL-terminated, MT__LEX_MASK_MAX + 1 bytes).
 * http: also require an HTTP mask's shape. *at: offset of the offending character. */
mt__lex_rc_t mt__lex_mask(const char *p, size_t n, bool http, char *out, size_t *at);

/* A tag name from p[0..n) into out (cap bytes with its NUL): no control characters. */
mt__lex_rc_t mt__lex_tag(const char *p, size_t n, char *out, size_t cap, size_t *at);

/* Whether code matches mask m: a mask of only x (or empty) matches every code but 0 (no
 * status); otherwise same length and every non-x digit equal. */
bool mt__lex_mask_match(const char *m, unsigned code);

/* Index of name in tags[0..ntags), or -1. */
int mt__lex_find_tag(const char *name, const char *const *tags, size_t ntags);

#endif
