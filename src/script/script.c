/* wrk-compatible Lua scripts on LuaJIT: see script.h and docs/scripting.md. The wrk table
 * and its functions are this file's own code written from wrk's documented behaviour. */
#include "script/script.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <time.h>

#include "mortar/http1.h"
#include "proto/http1_req.h"

#define SCRIPT_MAX_RESPONSE (8u * 1024 * 1024) /* response bytes kept for response() */
#define SCRIPT_COPY_DEPTH   16                 /* nesting of tables thread:get/set copy */
#define THREAD_MT           "mortar.thread"

typedef struct sthread {
    struct mt__script *s;
    int index;
    lua_State *L;
    int wrk_ref;    /* the state's wrk table */
    int tagmap_ref; /* tag name -> index */
    int static_ref; /* the static request's string (no request() function) */
    bool dynamic, has_response, has_delay;
    bool stopped;
    mt_script_req_t static_req;
    struct sockaddr_storage addr; /* thread.addr set by setup() (addrlen > 0) */
    socklen_t addrlen;
    char addr_txt[INET6_ADDRSTRLEN + 16];
} sthread_t;

struct mt__script {
    char *name;
    char *text;
    size_t len;
    char **args;
    size_t nargs;
    char *url, *scheme, *host, *port, *host_header, *method, *path, *body, *addr;
    bool sandbox;
    size_t body_len;
    char **headers;
    size_t nheaders;
    lua_State *M;
    sthread_t *th;
    int nth;
    char *tags[MT_MAX_TAGS];
    size_t ntags;
    mt_script_hooks_t hooks;
    pthread_mutex_t mu;
    char err[600];
};

#define SCRIPT_GUARD_S 5 /* a server run: the top level, setup() and init() each end within */

/* ---- a server run's guard: code outside the run (the top level, setup, init) is bounded in
 * time, so a script cannot hold mortar serve's API or an agent forever. The JIT is off while
 * guarded (compiled loops do not call hooks). */

static _Thread_local int64_t guard_deadline;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void guard_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (mono_ns() > guard_deadline)
        luaL_error(L, "ran longer than %d s (a server run bounds the code outside the run)",
                   SCRIPT_GUARD_S);
}

static void guard_on(const struct mt__script *s, lua_State *L)
{
    if (!s->sandbox)
        return;
    guard_deadline = mono_ns() + SCRIPT_GUARD_S * 1000000000LL;
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_sethook(L, guard_hook, LUA_MASKCOUNT, 10000);
}

static void guard_off(const struct mt__script *s, lua_State *L)
{
    if (!s->sandbox)
        return;
    lua_sethook(L, NULL, 0, 0);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);
}

/* ---- messages ---- */

/* "NAME:LINE: MSG" -> "NAME:LINE: in PHASE: MSG"; anything else -> "NAME: in PHASE: MSG". */
static void phase_msg(const mt__script_t *s, const char *phase, const char *msg, char *out,
                      size_t n)
{
    if (!msg)
        msg = "(error object is not a string)";
    const char *p = msg;
    for (const char *q = msg; *q; q++) {
        if (q[0] == ':' && q[1] >= '0' && q[1] <= '9') {
            const char *d = q + 1;
            while (*d >= '0' && *d <= '9')
                d++;
            if (d[0] == ':' && d[1] == ' ') {
                p = d + 2;
                snprintf(out, n, "%.*s: in %s: %s", (int)(d - msg), msg, phase, p);
                return;
            }
        }
        if (*q == '\n' || *q == ' ')
            break;
    }
    snprintf(out, n, "%s: in %s: %s", s->name, phase, msg);
}

/* Messages carry the script's own text (error("...")): no control characters reach people. */
static void clean(char *m)
{
    for (; *m; m++)
        if ((unsigned char)*m < 0x20 || *m == 0x7f)
            *m = ' ';
}

/* A hook's error: kept (the first one) for the run's report. */
static int hook_fail(sthread_t *t, const char *phase, const char *msg)
{
    mt__script_t *s = t->s;
    char buf[600];
    phase_msg(s, phase, msg, buf, sizeof buf);
    clean(buf);
    pthread_mutex_lock(&s->mu);
    if (!s->err[0])
        snprintf(s->err, sizeof s->err, "%s", buf);
    pthread_mutex_unlock(&s->mu);
    return MT_EINVAL;
}

/* ---- values between states (thread:get / thread:set) ---- */

static void copy_value(lua_State *from, int idx, lua_State *to, int depth)
{
    switch (lua_type(from, idx)) {
    case LUA_TBOOLEAN:
        lua_pushboolean(to, lua_toboolean(from, idx));
        break;
    case LUA_TNUMBER:
        lua_pushnumber(to, lua_tonumber(from, idx));
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *p = lua_tolstring(from, idx, &len);
        lua_pushlstring(to, p, len);
        break;
    }
    case LUA_TTABLE:
        if (depth >= SCRIPT_COPY_DEPTH) {
            lua_pushnil(to);
            break;
        }
        if (idx < 0)
            idx = lua_gettop(from) + idx + 1;
        lua_newtable(to);
        lua_pushnil(from);
        while (lua_next(from, idx)) {
            copy_value(from, -2, to, depth + 1);
            copy_value(from, -1, to, depth + 1);
            if (lua_isnil(to, -2))
                lua_pop(to, 2);
            else
                lua_rawset(to, -3);
            lua_pop(from, 1);
        }
        break;
    default: /* functions, userdata, threads: not copied (as wrk) */
        lua_pushnil(to);
        break;
    }
}

/* ---- the thread object ---- */

static int addr_parse(const char *txt, struct sockaddr_storage *ss, socklen_t *len);
static void addr_text(const struct sockaddr *sa, char *buf, size_t n);

static sthread_t *check_thread(lua_State *L, int idx)
{
    sthread_t **p = luaL_checkudata(L, idx, THREAD_MT);
    return *p;
}

static int th_get(lua_State *L)
{
    sthread_t *t = check_thread(L, 1);
    const char *name = luaL_checkstring(L, 2);
    if (t->L == L) {
        lua_getglobal(L, name);
        return 1;
    }
    lua_getglobal(t->L, name);
    copy_value(t->L, -1, L, 0);
    lua_pop(t->L, 1);
    return 1;
}

static int th_set(lua_State *L)
{
    sthread_t *t = check_thread(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    if (t->L == L) {
        lua_setglobal(L, name);
        return 0;
    }
    copy_value(L, 3, t->L, 0);
    lua_setglobal(t->L, name);
    return 0;
}

static int th_stop(lua_State *L)
{
    sthread_t *t = check_thread(L, 1);
    t->stopped = true;
    return 0;
}

static int th_index(lua_State *L)
{
    sthread_t *t = check_thread(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "addr") == 0) {
        if (t->addrlen)
            lua_pushstring(L, t->addr_txt);
        else if (t->s->addr)
            lua_pushstring(L, t->s->addr);
        else
            lua_pushnil(L);
    } else if (strcmp(k, "get") == 0) {
        lua_pushcfunction(L, th_get);
    } else if (strcmp(k, "set") == 0) {
        lua_pushcfunction(L, th_set);
    } else if (strcmp(k, "stop") == 0) {
        lua_pushcfunction(L, th_stop);
    } else if (strcmp(k, "id") == 0) {
        lua_pushinteger(L, t->index + 1);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static int th_newindex(lua_State *L)
{
    sthread_t *t = check_thread(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "addr") == 0) {
        const char *v = lua_tostring(L, 3);
        struct sockaddr_storage ss;
        socklen_t sl;
        if (!v || addr_parse(v, &ss, &sl) != 0)
            return luaL_error(L,
                              "thread.addr: '%s' is not an address (ip:port, [ipv6]:port: "
                              "see wrk.lookup)",
                              v ? v : luaL_typename(L, 3));
        t->addr = ss;
        t->addrlen = sl;
        addr_text((struct sockaddr *)&ss, t->addr_txt, sizeof t->addr_txt);
        return 0;
    }
    return luaL_error(L, "thread.%s cannot be set", k);
}

static int th_tostring(lua_State *L)
{
    sthread_t *t = check_thread(L, 1);
    lua_pushfstring(L, "thread %d", t->index + 1);
    return 1;
}

static void push_thread(lua_State *L, sthread_t *t)
{
    sthread_t **p = lua_newuserdata(L, sizeof *p);
    *p = t;
    luaL_getmetatable(L, THREAD_MT);
    lua_setmetatable(L, -2);
}

/* ---- wrk.lookup, wrk.connect ---- */

static void addr_text(const struct sockaddr *sa, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(buf, n, "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *a = (const void *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(buf, n, "%s:%u", ip, port);
    }
}

static int wrk_lookup(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    const char *service = luaL_optstring(L, 2, "80");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot resolve %s:%s: %s", host, service, gai_strerror(rc));
        return 2;
    }
    lua_newtable(L);
    int i = 1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char buf[INET6_ADDRSTRLEN + 16];
        addr_text(a->ai_addr, buf, sizeof buf);
        lua_pushstring(L, buf);
        lua_rawseti(L, -2, i++);
    }
    freeaddrinfo(res);
    return 1;
}

/* "ip:port" or "[v6]:port" -> sockaddr. 0 on success. */
static int addr_parse(const char *txt, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(txt, ':');
    if (!colon || colon == txt || (size_t)(colon - txt) >= sizeof host)
        return -1;
    memcpy(host, txt, (size_t)(colon - txt));
    host[colon - txt] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a = (void *)ss;
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return -1;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
        return 0;
    }
    struct sockaddr_in *a = (void *)ss;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return -1;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
    return 0;
}

/* wrk.connect(addr): can a TCP connection be made (within 2 s)? */
static int wrk_connect(lua_State *L)
{
    const char *txt = luaL_checkstring(L, 1);
    struct sockaddr_storage ss;
    socklen_t sl;
    if (addr_parse(txt, &ss, &sl) != 0)
        return luaL_error(L, "wrk.connect: '%s' is not an address (ip:port, [ipv6]:port)", txt);
    int ok = 0;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
            ok = 1;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof err;
            if (poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
                err == 0)
                ok = 1;
        }
        close(fd);
    }
    lua_pushboolean(L, ok);
    return 1;
}

/* ---- states ---- */

/* A server run's states: what would reach the agent's files, processes or environment is
 * removed before the script runs. */
static const char sandbox_lua[] =
    "local w, t, c, d, dt = io.write, os.time, os.clock, os.date, os.difftime\n"
    "io = { write = w }\n"
    "os = { time = t, clock = c, date = d, difftime = dt }\n"
    "require, dofile, loadfile, package, module, debug = nil, nil, nil, nil, nil, nil\n"
    "local ls = loadstring\n"
    "local function text_only(src, name)\n"
    "  if type(src) ~= 'string' or src:byte(1) == 27 then\n"
    "    return nil, 'only Lua text can be loaded in a server run'\n"
    "  end\n"
    "  return ls(src, name)\n"
    "end\n"
    "load, loadstring = text_only, text_only\n";

/* wrk.format and the Host default, in Lua (this project's own code). */
static const char prelude[] =
    "local wrk = ...\n"
    "function wrk.format(method, path, headers, body)\n"
    "  method = method or wrk.method\n"
    "  path = path or wrk.path\n"
    "  headers = headers or wrk.headers\n"
    "  body = body or wrk.body\n"
    "  local t = { method, ' ', path, ' HTTP/1.1\\r\\n' }\n"
    "  if headers.Host == nil and wrk.headers.Host ~= nil then\n"
    "    t[#t + 1] = 'Host: ' .. wrk.headers.Host .. '\\r\\n'\n"
    "  end\n"
    "  for name, value in pairs(headers) do\n"
    "    if name ~= 'Content-Length' then\n"
    "      t[#t + 1] = name .. ': ' .. tostring(value) .. '\\r\\n'\n"
    "    end\n"
    "  end\n"
    "  if body then t[#t + 1] = 'Content-Length: ' .. #body .. '\\r\\n' end\n"
    "  t[#t + 1] = '\\r\\n'\n"
    "  if body then t[#t + 1] = body end\n"
    "  return table.concat(t)\n"
    "end\n";

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, k);
}

/* A state with the wrk table, the script's top level run in it. MT_OK or err filled. */
static int state_new(mt__script_t *s, lua_State **out, char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    *out = NULL;
    if (!L) {
        snprintf(err, errlen, "cannot create a Lua state (out of memory)");
        return MT_ENOMEM;
    }
    luaL_openlibs(L);
    luaL_newmetatable(L, THREAD_MT);
    lua_pushcfunction(L, th_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, th_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, th_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    lua_newtable(L);
    set_str(L, "scheme", s->scheme);
    set_str(L, "host", s->host);
    set_str(L, "port", s->port);
    set_str(L, "method", s->method);
    set_str(L, "path", s->path);
    if (s->body) {
        lua_pushlstring(L, s->body, s->body_len);
        lua_setfield(L, -2, "body");
    }
    lua_newtable(L);
    for (size_t i = 0; i < s->nheaders; i++) {
        const char *h = s->headers[i], *c = strchr(h, ':');
        if (!c)
            continue;
        const char *v = c + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        lua_pushlstring(L, h, (size_t)(c - h));
        lua_pushstring(L, v);
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    lua_pushcfunction(L, wrk_lookup);
    lua_setfield(L, -2, "lookup");
    lua_pushcfunction(L, wrk_connect);
    lua_setfield(L, -2, "connect");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "wrk");
    if (luaL_loadbuffer(L, prelude, sizeof prelude - 1, "=mortar") != 0 ||
        (lua_insert(L, -2), lua_pcall(L, 1, 0, 0)) != 0) {
        snprintf(err, errlen, "%s: internal: %s", s->name, lua_tostring(L, -1));
        lua_close(L);
        return MT_ENOMEM;
    }
    if (s->sandbox && luaL_dostring(L, sandbox_lua) != 0) {
        snprintf(err, errlen, "%s: internal: %s", s->name, lua_tostring(L, -1));
        lua_close(L);
        return MT_ENOMEM;
    }
    if (s->sandbox && s->len > 0 && s->text[0] == 0x1b) {
        snprintf(err, errlen, "%s: a compiled (bytecode) script cannot run in a server run",
                 s->name);
        lua_close(L);
        return MT_EPARSE;
    }
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", s->name);
    if (luaL_loadbuffer(L, s->text, s->len, chunk) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_close(L);
        return MT_EPARSE;
    }
    guard_on(s, L);
    int prc = lua_pcall(L, 0, 0, 0);
    guard_off(s, L);
    if (prc != 0) {
        phase_msg(s, "the script's top level", lua_tostring(L, -1), err, errlen);
        lua_close(L);
        return MT_EINVAL;
    }
    *out = L;
    return MT_OK;
}

static bool global_is_function(lua_State *L, const char *name)
{
    lua_getglobal(L, name);
    bool f = lua_isfunction(L, -1);
    lua_pop(L, 1);
    return f;
}

/* The declared tags: wrk.tags = {"login", ...} in the main state. */
static int read_tags(mt__script_t *s, char *err, size_t errlen)
{
    lua_State *L = s->M;
    lua_getglobal(L, "wrk");
    lua_getfield(L, -1, "tags");
    int rc = MT_OK;
    if (lua_isnil(L, -1))
        goto out;
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: wrk.tags must be a list of tag names", s->name);
        rc = MT_EINVAL;
        goto out;
    }
    size_t n = lua_objlen(L, -1);
    if (n + 1 > MT_MAX_TAGS) {
        snprintf(err, errlen, "%s: wrk.tags: at most %d tags", s->name, MT_MAX_TAGS - 1);
        rc = MT_EINVAL;
        goto out;
    }
    if (!(s->tags[0] = strdup(""))) {
        rc = MT_ENOMEM;
        goto out;
    }
    s->ntags = 1;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (int)i);
        size_t len;
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!v || len == 0 || len > 64 || strlen(v) != len) {
            snprintf(err, errlen, "%s: wrk.tags[%zu] must be a name of 1 to 64 bytes", s->name, i);
            rc = MT_EINVAL;
            goto out;
        }
        for (size_t j = 1; j < s->ntags; j++)
            if (strcmp(s->tags[j], v) == 0) {
                snprintf(err, errlen, "%s: wrk.tags: '%s' is listed twice", s->name, v);
                rc = MT_EINVAL;
                goto out;
            }
        if (!(s->tags[s->ntags] = strdup(v))) {
            rc = MT_ENOMEM;
            goto out;
        }
        s->ntags++;
        lua_pop(L, 1);
    }
out:
    lua_settop(L, 0);
    return rc;
}

static char *dup_or_null(const char *v, int *bad)
{
    if (!v)
        return NULL;
    char *d = strdup(v);
    if (!d)
        *bad = 1;
    return d;
}

/* Counts the requests in a request() result (each a head and Content-Length body). */
static int count_requests(const char *p, size_t len, uint32_t *count, unsigned *flags, char *why,
                          size_t n)
{
    size_t off = 0;
    uint32_t k = 0, heads = 0;
    while (off < len) {
        mt__h1_req_t q;
        size_t used = 0;
        mt__h1_req_init(&q, MT_H1_MAX_HEADER_BYTES);
        int rc = mt__h1_req_feed(&q, p + off, len - off, &used);
        if (rc == MT_EAGAIN) {
            if (k > 0 && used == len - off) { /* trailing blank lines */
                bool blank = true;
                for (size_t i = off; i < len; i++)
                    if (p[i] != '\r' && p[i] != '\n')
                        blank = false;
                if (blank)
                    break;
            }
            snprintf(why, n,
                     "request %u of the result is incomplete (no empty line after its "
                     "head)",
                     k + 1);
            return MT_EINVAL;
        }
        if (rc != MT_OK) {
            snprintf(why, n, "request %u of the result is not valid HTTP/1.1: %s (byte %zu)", k + 1,
                     q.err_msg ? q.err_msg : "malformed", off + q.err_offset + 1);
            return MT_EINVAL;
        }
        if (q.has_transfer_encoding) {
            snprintf(why, n,
                     "request %u: Transfer-Encoding request bodies are not supported "
                     "(give a Content-Length)",
                     k + 1);
            return MT_EINVAL;
        }
        off += used;
        if (q.content_length > len - off) {
            snprintf(why, n,
                     "request %u: its Content-Length %llu runs past the end of the "
                     "result",
                     k + 1, (unsigned long long)q.content_length);
            return MT_EINVAL;
        }
        off += q.content_length;
        if (q.method == MT__H1_M_HEAD)
            heads++;
        if (++k > MT_SCRIPT_MAX_PIPELINE) {
            snprintf(why, n, "more than %d pipelined requests", MT_SCRIPT_MAX_PIPELINE);
            return MT_EINVAL;
        }
    }
    if (k == 0) {
        snprintf(why, n, "an empty request");
        return MT_EINVAL;
    }
    if (heads && heads != k) {
        snprintf(why, n, "HEAD pipelined with other methods is not supported");
        return MT_EINVAL;
    }
    *count = k;
    *flags = heads ? MT_H1_NO_BODY : 0;
    return MT_OK;
}

/* The tag request() chose (wrk.tag), as an index. */
static int current_tag(sthread_t *t, uint16_t *tag)
{
    lua_State *L = t->L;
    *tag = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->wrk_ref);
    lua_getfield(L, -1, "tag");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 2);
        return MT_OK;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->tagmap_ref);
    lua_pushvalue(L, -2);
    lua_rawget(L, -2);
    int ok = lua_isnumber(L, -1);
    if (ok)
        *tag = (uint16_t)lua_tointeger(L, -1);
    else {
        char msg[200];
        snprintf(msg, sizeof msg, "wrk.tag '%s' is not one of wrk.tags",
                 lua_tostring(L, -3) ? lua_tostring(L, -3) : "?");
        lua_pop(L, 4);
        return hook_fail(t, "request()", msg);
    }
    lua_pop(L, 4);
    return MT_OK;
}

/* ---- hooks ---- */

static int hk_request(void *ud, int worker, mt_script_req_t *out)
{
    mt__script_t *s = ud;
    sthread_t *t = &s->th[worker];
    if (t->stopped)
        return MT_EEOF;
    if (!t->dynamic) {
        *out = t->static_req;
        return MT_OK;
    }
    lua_State *L = t->L;
    lua_settop(L, 0);
    lua_getglobal(L, "request");
    if (lua_pcall(L, 0, 1, 0) != 0)
        return hook_fail(t, "request()", lua_tostring(L, -1));
    if (t->stopped)
        return MT_EEOF;
    if (lua_type(L, 1) != LUA_TSTRING) {
        char msg[120];
        snprintf(msg, sizeof msg, "returned a %s, not a string (the request's bytes)",
                 luaL_typename(L, 1));
        return hook_fail(t, "request()", msg);
    }
    size_t len;
    const char *p = lua_tolstring(L, 1, &len);
    char why[200];
    if (len > MT_SCRIPT_MAX_REQUEST) {
        snprintf(why, sizeof why, "returned %zu bytes (at most %d)", len, MT_SCRIPT_MAX_REQUEST);
        return hook_fail(t, "request()", why);
    }
    if (count_requests(p, len, &out->count, &out->parse_flags, why, sizeof why) != MT_OK)
        return hook_fail(t, "request()", why);
    out->tag = 0;
    if (s->ntags && current_tag(t, &out->tag) != MT_OK)
        return MT_EINVAL;
    out->data = p; /* stays on the stack until the next call on this state */
    out->len = len;
    out->stable = false;
    return MT_OK;
}

static const char *find_head_end(const char *p, size_t len, size_t *next)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n') {
            *next = i + 2;
            return p + i;
        }
        if (p[i] == '\n' && i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') {
            *next = i + 3;
            return p + i;
        }
    }
    return NULL;
}

/* The body of a chunked response, decoded (as far as the kept bytes go). */
static void push_dechunked(lua_State *L, const char *p, size_t len)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t i = 0;
    while (i < len) {
        char *end;
        unsigned long long sz = strtoull(p + i, &end, 16);
        if (end == p + i)
            break;
        const char *nl = memchr(end, '\n', len - (size_t)(end - p));
        if (!nl || sz == 0)
            break;
        i = (size_t)(nl - p) + 1;
        size_t take = sz < len - i ? (size_t)sz : len - i;
        luaL_addlstring(&b, p + i, take);
        i += take;
        while (i < len && (p[i] == '\r' || p[i] == '\n'))
            i++;
    }
    luaL_pushresult(&b);
}

static int hk_response(void *ud, int worker, const char *resp, size_t len, bool truncated)
{
    mt__script_t *s = ud;
    sthread_t *t = &s->th[worker];
    lua_State *L = t->L;
    (void)truncated;
    lua_settop(L, 0);
    lua_getglobal(L, "response");
    /* skip interim 1xx heads */
    const char *p = resp;
    size_t left = len, next = 0;
    int status = 0;
    const char *end;
    for (;;) {
        status = 0;
        if (left > 12 && memcmp(p, "HTTP/", 5) == 0)
            status = atoi(p + 9);
        end = find_head_end(p, left, &next);
        if (!end || status < 100 || status >= 200 || status == 101)
            break;
        p += next;
        left -= next;
    }
    lua_pushinteger(L, status);
    lua_newtable(L);
    bool chunked = false;
    long long clen = -1;
    const char *line = memchr(p, '\n', left);
    const char *hend = end ? end : p + left;
    while (line && line < hend) {
        const char *ls = line + 1;
        const char *le = memchr(ls, '\n', (size_t)(p + left - ls));
        if (!le || ls >= hend + 1)
            break;
        size_t ll = (size_t)(le - ls);
        if (ll && ls[ll - 1] == '\r')
            ll--;
        const char *colon = memchr(ls, ':', ll);
        if (colon) {
            const char *v = colon + 1, *ve = ls + ll;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t nl = (size_t)(colon - ls);
            if (nl == 17 && strncasecmp(ls, "Transfer-Encoding", 17) == 0 && ve - v >= 7 &&
                strncasecmp(ve - 7, "chunked", 7) == 0)
                chunked = true;
            if (nl == 14 && strncasecmp(ls, "Content-Length", 14) == 0)
                clen = atoll(v);
            lua_pushlstring(L, ls, nl);
            lua_pushlstring(L, v, (size_t)(ve - v));
            lua_rawset(L, -3);
        }
        line = le;
    }
    if (!end) {
        lua_pushliteral(L, "");
    } else {
        const char *body = p + next;
        size_t blen = left - next;
        if (chunked)
            push_dechunked(L, body, blen);
        else
            lua_pushlstring(L, body, clen >= 0 && (size_t)clen < blen ? (size_t)clen : blen);
    }
    if (lua_pcall(L, 3, 0, 0) != 0)
        return hook_fail(t, "response()", lua_tostring(L, -1));
    return MT_OK;
}

static int hk_delay(void *ud, int worker, int64_t *ns)
{
    mt__script_t *s = ud;
    sthread_t *t = &s->th[worker];
    lua_State *L = t->L;
    lua_settop(L, 0);
    lua_getglobal(L, "delay");
    if (lua_pcall(L, 0, 1, 0) != 0)
        return hook_fail(t, "delay()", lua_tostring(L, -1));
    double ms = lua_tonumber(L, -1);
    *ns = ms > 0 ? (int64_t)(ms * 1e6) : 0;
    if (ms > 3600e3)
        *ns = (int64_t)3600 * 1000000000LL;
    return MT_OK;
}

static int hk_address(void *ud, int worker, void *sa, size_t cap, uint32_t *len)
{
    mt__script_t *s = ud;
    sthread_t *t = &s->th[worker];
    if (!t->addrlen || (size_t)t->addrlen > cap)
        return 0;
    memcpy(sa, &t->addr, t->addrlen);
    *len = (uint32_t)t->addrlen;
    return 1;
}

/* ---- life ---- */

int mt__script_new(const char *name, const char *text, size_t len, const char *const *args,
                   size_t nargs, const mt__script_target_t *t, mt__script_t **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    if (len > MT_SCRIPT_MAX_TEXT) {
        snprintf(err, errlen, "%s: the script is larger than %d MiB", name,
                 MT_SCRIPT_MAX_TEXT >> 20);
        return MT_EINVAL;
    }
    if (nargs > MT_SCRIPT_MAX_ARGS) {
        snprintf(err, errlen, "%s: more than %d script arguments", name, MT_SCRIPT_MAX_ARGS);
        return MT_EINVAL;
    }
    mt__script_t *s = calloc(1, sizeof *s);
    if (!s)
        return MT_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    int bad = 0, rc;
    s->name = dup_or_null(name ? name : "script", &bad);
    s->text = malloc(len + 1);
    if (s->text) {
        memcpy(s->text, text, len);
        s->text[len] = '\0';
    }
    s->len = len;
    s->args = calloc(nargs + 1, sizeof *s->args);
    s->nargs = nargs;
    for (size_t i = 0; s->args && i < nargs; i++)
        s->args[i] = dup_or_null(args[i] ? args[i] : "", &bad);
    s->sandbox = t->sandbox;
    s->url = dup_or_null(t->url, &bad);
    s->scheme = dup_or_null(t->scheme, &bad);
    s->host = dup_or_null(t->host, &bad);
    s->port = dup_or_null(t->port, &bad);
    s->host_header = dup_or_null(t->host_header, &bad);
    s->method = dup_or_null(t->method ? t->method : "GET", &bad);
    s->path = dup_or_null(t->path ? t->path : "/", &bad);
    if (t->body) {
        s->body = malloc(t->body_len + 1);
        if (s->body) {
            memcpy(s->body, t->body, t->body_len);
            s->body_len = t->body_len;
        } else
            bad = 1;
    }
    s->headers = calloc(t->nheaders + 1, sizeof *s->headers);
    s->nheaders = t->nheaders;
    for (size_t i = 0; s->headers && i < t->nheaders; i++)
        s->headers[i] = dup_or_null(t->headers[i], &bad);
    if (bad || !s->name || !s->text || !s->args || !s->headers) {
        rc = MT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    rc = state_new(s, &s->M, err, errlen);
    if (rc != MT_OK)
        goto fail;
    rc = read_tags(s, err, errlen);
    if (rc != MT_OK)
        goto fail;
    s->hooks.request = hk_request;
    s->hooks.ud = s;
    s->hooks.max_response = SCRIPT_MAX_RESPONSE;
    *out = s;
    return MT_OK;
fail:
    if (rc == MT_ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    clean(err);
    mt__script_free(s);
    return rc;
}

const char *const *mt__script_tags(const mt__script_t *s, size_t *n)
{
    *n = s->ntags;
    return s->ntags ? (const char *const *)s->tags : NULL;
}

/* init(args) and what wrk's own init does, in a thread's state. */
static int thread_init(mt__script_t *s, sthread_t *t, char *err, size_t errlen)
{
    lua_State *L = t->L;
    lua_getglobal(L, "wrk");
    push_thread(L, t);
    lua_setfield(L, -2, "thread");
    lua_getfield(L, -1, "headers");
    lua_getfield(L, -1, "Host");
    if (lua_isnil(L, -1) && s->host_header) {
        lua_pushstring(L, s->host_header);
        lua_setfield(L, -3, "Host");
    }
    lua_pop(L, 2);
    lua_pushvalue(L, -1);
    t->wrk_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);

    lua_newtable(L);
    for (size_t i = 1; i < s->ntags; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_setfield(L, -2, s->tags[i]);
    }
    t->tagmap_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_getglobal(L, "init");
    if (lua_isfunction(L, -1)) {
        lua_newtable(L);
        for (size_t i = 0; i < s->nargs; i++) {
            lua_pushstring(L, s->args[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        if (s->url) { /* wrk: args[0] is the URL */
            lua_pushstring(L, s->url);
            lua_rawseti(L, -2, 0);
        }
        guard_on(s, L);
        int prc = lua_pcall(L, 1, 0, 0);
        guard_off(s, L);
        if (prc != 0) {
            phase_msg(s, "init()", lua_tostring(L, -1), err, errlen);
            return MT_EINVAL;
        }
    } else {
        lua_pop(L, 1);
    }
    t->dynamic = global_is_function(L, "request");
    t->has_response = global_is_function(L, "response");
    t->has_delay = global_is_function(L, "delay");
    if (!t->dynamic) { /* wrk's static request: formatted once, after init */
        lua_getglobal(L, "wrk");
        lua_getfield(L, -1, "format");
        if (lua_pcall(L, 0, 1, 0) != 0) {
            phase_msg(s, "wrk.format()", lua_tostring(L, -1), err, errlen);
            return MT_EINVAL;
        }
        size_t len;
        const char *p = lua_tolstring(L, -1, &len);
        char why[200];
        if (!p || count_requests(p, len, &t->static_req.count, &t->static_req.parse_flags, why,
                                 sizeof why) != MT_OK) {
            snprintf(err, errlen,
                     "%s: the request built from wrk.method, wrk.path, wrk.headers "
                     "and wrk.body: %s",
                     s->name, p ? why : "not a string");
            return MT_EINVAL;
        }
        t->static_req.data = p;
        t->static_req.len = len;
        t->static_req.stable = true;
        t->static_req.tag = 0;
        if (s->ntags && current_tag(t, &t->static_req.tag) != MT_OK) {
            snprintf(err, errlen, "%s", s->err);
            return MT_EINVAL;
        }
        t->static_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* keeps the string alive */
    }
    lua_settop(L, 0);
    return MT_OK;
}

static int script_start(mt__script_t *s, int nthreads, const char *addr, char *err, size_t errlen)
{
    err[0] = '\0';
    if (s->th || nthreads < 1)
        return MT_EINVAL;
    if (addr && !(s->addr = strdup(addr)))
        return MT_ENOMEM;
    s->th = calloc((size_t)nthreads, sizeof *s->th);
    if (!s->th)
        return MT_ENOMEM;
    s->nth = nthreads;
    for (int i = 0; i < nthreads; i++) {
        sthread_t *t = &s->th[i];
        t->s = s;
        t->index = i;
        t->wrk_ref = t->tagmap_ref = t->static_ref = LUA_NOREF;
        int rc = state_new(s, &t->L, err, errlen);
        if (rc != MT_OK)
            return rc;
    }
    lua_State *M = s->M;
    lua_getglobal(M, "setup");
    bool has_setup = lua_isfunction(M, -1);
    lua_pop(M, 1);
    for (int i = 0; has_setup && i < nthreads; i++) {
        lua_getglobal(M, "setup");
        push_thread(M, &s->th[i]);
        guard_on(s, M);
        int prc = lua_pcall(M, 1, 0, 0);
        guard_off(s, M);
        if (prc != 0) {
            phase_msg(s, "setup()", lua_tostring(M, -1), err, errlen);
            lua_settop(M, 0);
            return MT_EINVAL;
        }
    }
    bool resp = false, delay = false;
    for (int i = 0; i < nthreads; i++) {
        int rc = thread_init(s, &s->th[i], err, errlen);
        if (rc != MT_OK)
            return rc;
        resp |= s->th[i].has_response;
        delay |= s->th[i].has_delay;
    }
    bool any_addr = false;
    for (int i = 0; i < nthreads; i++)
        any_addr |= s->th[i].addrlen != 0;
    s->hooks.address = any_addr ? hk_address : NULL;
    s->hooks.response = resp ? hk_response : NULL;
    s->hooks.delay = delay ? hk_delay : NULL;
    return MT_OK;
}

int mt__script_start(mt__script_t *s, int nthreads, const char *addr, char *err, size_t errlen)
{
    int rc = script_start(s, nthreads, addr, err, errlen);
    clean(err);
    return rc;
}

const mt_script_hooks_t *mt__script_hooks(const mt__script_t *s)
{
    return &s->hooks;
}

const char *mt__script_error(mt__script_t *s)
{
    return s->err;
}

bool mt__script_has_done(const mt__script_t *s)
{
    return global_is_function(s->M, "done");
}

static int stats_percentile(lua_State *L)
{
    const mt_hist_t *h = lua_touserdata(L, lua_upvalueindex(1));
    double p = luaL_checknumber(L, lua_gettop(L)); /* latency:percentile(p) or .percentile(p) */
    if (p < 0 || p > 100)
        return luaL_error(L, "percentile(%f): give 0 to 100", p);
    lua_pushnumber(L, h ? (double)mt_hist_value_at_percentile(h, p) : 0);
    return 1;
}

static void push_stats(lua_State *L, const mt_hist_t *h)
{
    lua_newtable(L);
    lua_pushnumber(L, h ? (double)mt_hist_min(h) : 0);
    lua_setfield(L, -2, "min");
    lua_pushnumber(L, h ? (double)mt_hist_max(h) : 0);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, h && mt_hist_count(h) ? mt_hist_mean(h) : 0);
    lua_setfield(L, -2, "mean");
    lua_pushnumber(L, h && mt_hist_count(h) ? mt_hist_stddev(h) : 0);
    lua_setfield(L, -2, "stdev");
    lua_pushnumber(L, h ? (double)mt_hist_count(h) : 0);
    lua_setfield(L, -2, "count");
    lua_pushlightuserdata(L, (void *)(uintptr_t)h);
    lua_pushcclosure(L, stats_percentile, 1);
    lua_setfield(L, -2, "percentile");
}

static int script_done(mt__script_t *s, const mt_run_result_t *r, const mt_hist_t *rps, char *err,
                       size_t errlen)
{
    lua_State *M = s->M;
    err[0] = '\0';
    lua_settop(M, 0);
    lua_getglobal(M, "done");
    if (!lua_isfunction(M, -1)) {
        lua_settop(M, 0);
        return MT_OK;
    }
    const mt_counters_t *c = &r->c;
    uint64_t status = 0;
    for (int i = 400; i < MT_STATUS_MAX; i++)
        status += c->status[i];
    lua_newtable(M);
    lua_pushnumber(M, (double)(r->elapsed_ns / 1000));
    lua_setfield(M, -2, "duration");
    lua_pushnumber(M, (double)c->completed);
    lua_setfield(M, -2, "requests");
    lua_pushnumber(M, (double)c->bytes_in);
    lua_setfield(M, -2, "bytes");
    lua_newtable(M);
    lua_pushnumber(M, (double)(c->err[MT_ERR_REFUSED] + c->err[MT_ERR_DNS] + c->err[MT_ERR_TLS]));
    lua_setfield(M, -2, "connect");
    lua_pushnumber(M, (double)(c->err[MT_ERR_RESET] + c->err[MT_ERR_CLOSED] +
                               c->err[MT_ERR_PROTOCOL] + c->err[MT_ERR_OTHER]));
    lua_setfield(M, -2, "read");
    lua_pushnumber(M, 0);
    lua_setfield(M, -2, "write");
    lua_pushnumber(M, (double)status);
    lua_setfield(M, -2, "status");
    lua_pushnumber(M, (double)c->err[MT_ERR_TIMEOUT]);
    lua_setfield(M, -2, "timeout");
    lua_setfield(M, -2, "errors");
    push_stats(M, r->latency);
    push_stats(M, rps);
    if (lua_pcall(M, 3, 0, 0) != 0) {
        phase_msg(s, "done()", lua_tostring(M, -1), err, errlen);
        lua_settop(M, 0);
        return MT_EINVAL;
    }
    fflush(stdout);
    return MT_OK;
}

int mt__script_done(mt__script_t *s, const mt_run_result_t *r, const mt_hist_t *rps, char *err,
                    size_t errlen)
{
    int rc = script_done(s, r, rps, err, errlen);
    clean(err);
    return rc;
}

void mt__script_free(mt__script_t *s)
{
    if (!s)
        return;
    for (int i = 0; s->th && i < s->nth; i++)
        if (s->th[i].L)
            lua_close(s->th[i].L);
    free(s->th);
    if (s->M)
        lua_close(s->M);
    for (size_t i = 0; i < s->ntags; i++)
        free(s->tags[i]);
    for (size_t i = 0; s->args && i < s->nargs; i++)
        free(s->args[i]);
    free(s->args);
    for (size_t i = 0; s->headers && i < s->nheaders; i++)
        free(s->headers[i]);
    free(s->headers);
    free(s->name);
    free(s->text);
    free(s->url);
    free(s->scheme);
    free(s->host);
    free(s->port);
    free(s->host_header);
    free(s->method);
    free(s->path);
    free(s->body);
    free(s->addr);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
