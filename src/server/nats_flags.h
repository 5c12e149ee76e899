/* NATS connection flags shared by `mortar serve` and `mortar agent` (docs/distributed.md).
 * Secrets never come on the command line: passwords and tokens from a file or environment
 * (MORTAR_NATS_PASSWORD, MORTAR_NATS_TOKEN). */
#ifndef MT_SERVER_NATS_FLAGS_H
#define MT_SERVER_NATS_FLAGS_H

#include <getopt.h>

#include "server/bus.h"

enum {
    MT__NF_URL = 1000,
    MT__NF_USER,
    MT__NF_PASSWORD_FILE,
    MT__NF_TOKEN_FILE,
    MT__NF_CREDS,
    MT__NF_NKEY,
    MT__NF_CA,
    MT__NF_CERT,
    MT__NF_KEY,
};

/* The getopt_long entries for the flags above (no terminator). */
#define MT__NATS_LONGOPTS                                                                          \
    {"nats", required_argument, NULL, MT__NF_URL},                                                 \
        {"nats-user", required_argument, NULL, MT__NF_USER},                                       \
        {"nats-password-file", required_argument, NULL, MT__NF_PASSWORD_FILE},                     \
        {"nats-token-file", required_argument, NULL, MT__NF_TOKEN_FILE},                           \
        {"nats-creds", required_argument, NULL, MT__NF_CREDS},                                     \
        {"nats-nkey", required_argument, NULL, MT__NF_NKEY},                                       \
        {"nats-ca", required_argument, NULL, MT__NF_CA},                                           \
        {"nats-cert", required_argument, NULL, MT__NF_CERT},                                       \
    {                                                                                              \
        "nats-key", required_argument, NULL, MT__NF_KEY                                            \
    }

#define MT__NATS_USAGE                                                                             \
    "  --nats URL            NATS server(s), e.g. nats://127.0.0.1:4222 (comma-separated)\n"       \
    "  --nats-user USER      user name; the password from --nats-password-file FILE or\n"          \
    "                        $MORTAR_NATS_PASSWORD\n"                                              \
    "  --nats-token-file F   a token in a file (or $MORTAR_NATS_TOKEN)\n"                          \
    "  --nats-creds FILE     NATS credentials (JWT + nkey seed, from nsc)\n"                       \
    "  --nats-nkey FILE      a file holding an nkey seed (SU...)\n"                                \
    "  --nats-ca FILE        TLS to NATS: trust these CAs (PEM)\n"                                 \
    "  --nats-cert FILE      TLS client certificate (PEM), with --nats-key FILE\n"

/* Handles one of the flags (ch from getopt_long). 0, or 2 after a message on stderr. */
int mt__nats_flag(const char *cmd, int ch, const char *arg, mt__nats_opts_t *o);
/* After parsing: secrets from files/environment, consistency checks. 0 or 2 (message
 * printed). The secrets are kept in static storage for the process's life. */
int mt__nats_flags_finish(const char *cmd, mt__nats_opts_t *o);

#endif
