#include "stats/lex.h"

#include <stdio.h>
#include <string.h>

bool mt__lex_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool mt__lex_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool mt__lex_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char mt__lex_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool mt__lex_word_is(const char *p, size_t n, const char *w)
{
    if (strlen(w) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (mt__lex_lower(p[i]) != mt__lex_lower(w[i]))
            return false;
    }
    return true;
}

size_t mt__lex_ident_len(const char *p)
{
    size_t n = 0;
    if (!mt__lex_alpha(p[0]) && p[0] != '_')
        return 0;
    while (mt__lex_alpha(p[n]) || mt__lex_digit(p[n]) || p[n] == '_')
        n++;
    return n;
}

static bool lex_all_x(const char *m)
{
    for (; *m; m++) {
        if (*m != 'x')
            return false;
    }
    return true;
}

mt__lex_rc_t mt__lex_mask(const char *p, size_t n, bool http, char *out, size_t *at)
{
    *at = 0;
    if (n > MT__LEX_MASK_MAX)
        return MT__LEX_TOO_LONG;
    for (size_t i = 0; i < n; i++) {
        char c = mt__lex_lower(p[i]);
        if (!mt__lex_digit(c) && c != 'x') {
            *at = i;
            return MT__LEX_BAD_CHAR;
        }
        out[i] = c;
    }
    out[n] = '\0';
    if (http && n != 3 && !lex_all_x(out) && strcmp(out, "0") != 0)
        return MT__LEX_BAD_HTTP;
    return MT__LEX_OK;
}

mt__lex_rc_t mt__lex_tag(const char *p, size_t n, char *out, size_t cap, size_t *at)
{
    *at = 0;
    if (n >= cap)
        return MT__LEX_TOO_LONG;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == 0x7f) {
            *at = i;
            return MT__LEX_BAD_CHAR;
        }
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return MT__LEX_OK;
}

bool mt__lex_mask_match(const char *m, unsigned code)
{
    char buf[16];
    int len;

    if (lex_all_x(m))
        return code != 0;
    len = snprintf(buf, sizeof buf, "%u", code);
    if (len < 0 || (size_t)len != strlen(m))
        return false;
    for (int i = 0; i < len; i++) {
        if (m[i] != 'x' && m[i] != buf[i])
            return false;
    }
    return true;
}

int mt__lex_find_tag(const char *name, const char *const *tags, size_t ntags)
{
    for (size_t i = 0; tags && i < ntags; i++) {
        if (tags[i] && strcmp(tags[i], name) == 0)
            return (int)i;
    }
    return -1;
}
