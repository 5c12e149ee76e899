/* NATS connection flags shared by serve and agent (nats_flags.h). */
#include "server/nats_flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char nf_password[512], nf_token[512];
static const char *nf_password_file, *nf_token_file;

int mt__nats_flag(const char *cmd, int ch, const char *arg, mt__nats_opts_t *o)
{
    const char **slot = NULL;
    switch (ch) {
    case MT__NF_URL:
        o->url = arg;
        return 0;
    case MT__NF_USER:
        o->user = arg;
        return 0;
    case MT__NF_PASSWORD_FILE:
        nf_password_file = arg;
        return 0;
    case MT__NF_TOKEN_FILE:
        nf_token_file = arg;
        return 0;
    case MT__NF_CREDS:
        slot = &o->creds_file;
        break;
    case MT__NF_NKEY:
        slot = &o->nkey_file;
        break;
    case MT__NF_CA:
        slot = &o->ca_file;
        break;
    case MT__NF_CERT:
        slot = &o->cert_file;
        break;
    case MT__NF_KEY:
        slot = &o->key_file;
        break;
    default:
        fprintf(stderr, "mortar %s: unknown NATS flag\n", cmd);
        return 2;
    }
    if (access(arg, R_OK) != 0) {
        fprintf(stderr, "mortar %s: %s: cannot read the file\n", cmd, arg);
        return 2;
    }
    *slot = arg;
    return 0;
}

/* The first line of a file, without its newline. */
static int nf_read_secret(const char *cmd, const char *flag, const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(out, (int)n, f) == NULL) {
        fprintf(stderr, "mortar %s: %s %s: cannot read it (or it is empty)\n", cmd, flag, path);
        if (f)
            fclose(f);
        return 2;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (out[0] == '\0') {
        fprintf(stderr, "mortar %s: %s %s: the first line is empty\n", cmd, flag, path);
        return 2;
    }
    return 0;
}

int mt__nats_flags_finish(const char *cmd, mt__nats_opts_t *o)
{
    const char *env;
    if (o->url == NULL)
        return 0;
    if (strncmp(o->url, "nats://", 7) != 0 && strncmp(o->url, "tls://", 6) != 0) {
        fprintf(stderr, "mortar %s: --nats: '%s' is not a nats:// or tls:// URL\n", cmd, o->url);
        return 2;
    }
    if (nf_password_file != NULL) {
        if (o->user == NULL) {
            fprintf(stderr, "mortar %s: --nats-password-file needs --nats-user\n", cmd);
            return 2;
        }
        if (nf_read_secret(cmd, "--nats-password-file", nf_password_file, nf_password,
                           sizeof nf_password) != 0)
            return 2;
        o->password = nf_password;
    } else if (o->user != NULL) {
        env = getenv("MORTAR_NATS_PASSWORD");
        if (env == NULL || env[0] == '\0') {
            fprintf(stderr,
                    "mortar %s: --nats-user needs a password: --nats-password-file "
                    "FILE or $MORTAR_NATS_PASSWORD\n",
                    cmd);
            return 2;
        }
        snprintf(nf_password, sizeof nf_password, "%s", env);
        o->password = nf_password;
    }
    if (nf_token_file != NULL) {
        if (nf_read_secret(cmd, "--nats-token-file", nf_token_file, nf_token, sizeof nf_token) != 0)
            return 2;
        o->token = nf_token;
    } else if ((env = getenv("MORTAR_NATS_TOKEN")) != NULL && env[0] != '\0') {
        snprintf(nf_token, sizeof nf_token, "%s", env);
        o->token = nf_token;
    }
    int methods =
        (o->user != NULL) + (o->token != NULL) + (o->creds_file != NULL) + (o->nkey_file != NULL);
    if (methods > 1) {
        fprintf(stderr,
                "mortar %s: use one of --nats-user, a token, --nats-creds or "
                "--nats-nkey\n",
                cmd);
        return 2;
    }
    if ((o->cert_file == NULL) != (o->key_file == NULL)) {
        fprintf(stderr, "mortar %s: --nats-cert and --nats-key go together\n", cmd);
        return 2;
    }
    return 0;
}
