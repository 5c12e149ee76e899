/* libFuzzer driver for what agents and the control plane decode from NATS (docs/adr/
 * 0022-agents-over-nats.md): the first byte picks the decoder, the rest is the message.
 *   p: a prepare (agent side)        c: a commit (agent side)
 *   i: a stream message id           k: a run config's distribution keys and a selector
 *   s: an nkey seed file's contents (the public key derivation)
 * The .c files are included so they carry the fuzzer's coverage instrumentation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/agent_host.c"

#include "server/dist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    char err[512];
    switch (data[0]) {
    case 'p': {
        char run[40], *cfg = NULL, *part = NULL;
        int64_t ttl;
        if (mt__prepare_decode(msg, len, run, &cfg, &part, &ttl, err, sizeof err) == MT_OK) {
            if (cfg == NULL || strlen(run) == 0 || strlen(run) >= 40 || ttl < 0)
                __builtin_trap();
        } else if (cfg != NULL || part != NULL || err[0] == '\0') {
            __builtin_trap();
        }
        free(cfg);
        free(part);
        break;
    }
    case 'c': {
        int64_t t = 0;
        if (mt__commit_decode(msg, len, &t) == MT_OK && t <= 0)
            __builtin_trap();
        break;
    }
    case 'i': {
        char id[256], run[64];
        uint32_t sec;
        snprintf(id, sizeof id, "%.*s", (int)(len < 255 ? len : 255), msg);
        if (mt__nats_msg_id_parse(id, run, &sec) == MT_OK && strlen(run) >= 64)
            __builtin_trap();
        break;
    }
    case 'k': {
        json_t *o = json_loadb(msg, len, 0, NULL);
        mt__dist_keys_t k;
        if (o != NULL && mt__dist_keys(o, &k, err, sizeof err) == MT_OK) {
            if (k.agents < 1)
                __builtin_trap();
            json_t *labels = json_pack("{s:s, s:s}", "zone", "a", "tier", "b");
            (void)mt__dist_labels_match(k.labels, labels);
            (void)mt__dist_labels_match(k.labels, json_object_get(o, "labels"));
            json_decref(labels);
        }
        json_decref(o);
        break;
    }
    case 's': {
        char path[] = "/tmp/mortar-fuzz-nkey-XXXXXX", pub[64];
        int fd = mkstemp(path);
        if (fd < 0)
            return 0;
        if (write(fd, msg, len) == (ssize_t)len &&
            mt__nkey_public_from_seed_file(path, pub, err, sizeof err) == MT_OK &&
            (strlen(pub) != 56 || pub[0] != 'U'))
            __builtin_trap();
        close(fd);
        unlink(path);
        break;
    }
    default:
        break;
    }
    return 0;
}
