/* prompts.c - reads the "prompt" field of each line of a JSONL prompt file (the format of
 * tests/fixtures/prompts.jsonl) with a minimal JSON reader: enough for one flat object per line. Shared by the
 * command-line tool and the native tests. */
#include "prompts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char * skip_ws(const char * p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

static int hex4(const char * p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = p[i];
        v <<= 4;
        if      (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static size_t put_utf8(char * o, unsigned cp) {
    if (cp < 0x80)    { o[0] = (char) cp; return 1; }
    if (cp < 0x800)   { o[0] = (char) (0xC0 | cp >> 6); o[1] = (char) (0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char) (0xE0 | cp >> 12);
        o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char) (0xF0 | cp >> 18);
    o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

/* Parse the JSON string at p (on its opening quote). With out != NULL, write the unescaped
 * UTF-8 there (it needs at most the quoted length + 1 bytes: no escape grows). Returns the
 * position after the closing quote, or NULL on malformed input. Lone surrogates -> U+FFFD. */
static const char * parse_string(const char * p, char * out) {
    size_t o = 0;
    char   tmp[4];
    if (*p++ != '"') return NULL;
    for (;;) {
        char c = *p++;
        if (c == '\0') return NULL;
        if (c == '"') break;
        if (c != '\\') { if (out) out[o] = c; o++; continue; }
        c = *p++;
        const char * simple = strchr("\"\\/bfnrt", c);
        if (c != '\0' && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            if (out) out[o] = map[simple - "\"\\/bfnrt"];
            o++;
            continue;
        }
        if (c != 'u') return NULL;
        int cp = hex4(p);
        if (cp < 0) return NULL;
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && p[0] == '\\' && p[1] == 'u') {
            const int lo = hex4(p + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        const size_t n = put_utf8(out ? out + o : tmp, (unsigned) cp);
        o += n;
    }
    if (out) out[o] = '\0';
    return p;
}

/* Skip any JSON value; NULL on malformed input. */
static const char * skip_value(const char * p) {
    p = skip_ws(p);
    if (*p == '"') return parse_string(p, NULL);
    if (*p == '{' || *p == '[') {
        const char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = parse_string(skip_ws(p), NULL);
                if (!p || *(p = skip_ws(p)) != ':') return NULL;
                p++;
            }
            if (!(p = skip_value(p))) return NULL;
            p = skip_ws(p);
            if (*p == close) return p + 1;
            if (*p++ != ',') return NULL;
        }
    }
    while (*p && !strchr(",}] \t\r\n", *p)) p++; /* number, true, false, null */
    return p;
}

/* The "prompt" member of the object on this line, malloc'd; NULL if absent or malformed. */
static char * line_prompt(const char * p) {
    p = skip_ws(p);
    if (*p++ != '{') return NULL;
    for (;;) {
        p = skip_ws(p);
        if (*p != '"') return NULL;
        const char * key = p;
        if (!(p = parse_string(p, NULL))) return NULL;
        const bool is_prompt = (size_t) (p - key) == strlen("\"prompt\"") &&
                               strncmp(key, "\"prompt\"", 8) == 0;
        p = skip_ws(p);
        if (*p++ != ':') return NULL;
        p = skip_ws(p);
        if (is_prompt && *p == '"') {
            const char * end = parse_string(p, NULL);
            char * s = end ? malloc((size_t) (end - p) + 1) : NULL;
            if (s) parse_string(p, s);
            return s;
        }
        if (!(p = skip_value(p))) return NULL;
        p = skip_ws(p);
        if (*p++ != ',') return NULL;
    }
}

int rd_read_prompts(const char * path, int max, char *** out) {
    *out = NULL;
    FILE * f = fopen(path, "rb");
    if (!f) return -1;

    char ** v = NULL;
    int n = 0, cap = 0;
    size_t len = 0, lcap = 0;
    char * line = NULL;
    for (int c = 0; (max <= 0 || n < max) && c != EOF;) {
        c = fgetc(f);
        if (c != '\n' && c != EOF) {
            if (len + 2 > lcap) {
                lcap = lcap ? 2 * lcap : 4096;
                char * nl = realloc(line, lcap);
                if (!nl) break;
                line = nl;
            }
            line[len++] = (char) c;
            continue;
        }
        if (len == 0) continue;
        line[len] = '\0';
        len = 0;
        char * s = line_prompt(line);
        if (!s) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char ** nv = realloc(v, (size_t) cap * sizeof *v);
            if (!nv) { free(s); break; }
            v = nv;
        }
        v[n++] = s;
    }
    free(line);
    fclose(f);
    if (n == 0) {
        free(v);
        return -1;
    }
    *out = v;
    return n;
}

void rd_free_prompts(char ** prompts, int n) {
    for (int i = 0; i < n; i++) free(prompts[i]);
    free(prompts);
}
