/* harness.c - checks, summary, test model and prompt loading for the native tests
 * (see harness.h). Plain C11. */
#include "harness.h"
#include "prompts.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CMake passes the absolute path; otherwise assume the tests run in native/build. */
#ifndef RD_TEST_DEFAULT_PROMPTS
#define RD_TEST_DEFAULT_PROMPTS "../../tests/fixtures/prompts.jsonl"
#endif

static int n_checks;
static int n_failed;

static void fail_header(const char * file, int line) {
    fprintf(stderr, "%s:%d: FAILED ", file, line);
}

bool rd_test_check(bool ok, const char * file, int line, const char * expr, const char * fmt, ...) {
    n_checks++;
    if (ok) return true;
    n_failed++;
    fail_header(file, line);
    fprintf(stderr, "CHECK(%s)", expr);
    if (fmt && fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    return false;
}

bool rd_test_check_eq_int(long long a, long long b, const char * file, int line,
                          const char * ea, const char * eb) {
    n_checks++;
    if (a == b) return true;
    n_failed++;
    fail_header(file, line);
    fprintf(stderr, "%s == %s: %lld != %lld\n", ea, eb, a, b);
    return false;
}

bool rd_test_check_near(double a, double b, double tol, const char * file, int line,
                        const char * ea, const char * eb) {
    n_checks++;
    if (fabs(a - b) <= tol) return true; /* false for NaN, as it should be */
    n_failed++;
    fail_header(file, line);
    fprintf(stderr, "%s ~= %s: %.9g vs %.9g, |diff| %.3g > %.3g\n", ea, eb, a, b, fabs(a - b), tol);
    return false;
}

bool rd_test_check_ok(rd_status st, const char * file, int line, const char * call) {
    n_checks++;
    if (st == RD_OK) return true;
    n_failed++;
    fail_header(file, line);
    fprintf(stderr, "%s: status %d: %s\n", call, (int) st, rd_last_error());
    return false;
}

int rd_test_done(void) {
    printf("%d checks, %d failed\n", n_checks, n_failed);
    fflush(stdout);
    return n_failed == 0 ? 0 : 1;
}

static rd_model * open_model(const char * env) {
    const char * path = getenv(env);
    if (!CHECK(path && path[0], "%s is not set (CTest sets it)", env)) return NULL;
    rd_log_set_quiet(true);
    if (!CHECK_OK(rd_backend_init(getenv("RD_LIB_DIR")))) return NULL;
    rd_model_params p;
    rd_model_default_params(&p);
    /* CPU unless the run says otherwise (scripts/gpu-check.sh runs every test fully offloaded) */
    const char * gpu = getenv("RD_TEST_GPU_LAYERS");
    p.n_gpu_layers = gpu && gpu[0] ? atoi(gpu) : 0;
    rd_model * m = NULL;
    if (!rd_test_check_ok(rd_model_load(path, &p, &m), __FILE__, __LINE__, path)) return NULL;
    return m;
}

rd_model * rd_test_open_model(void)   { return open_model("RD_TEST_MODEL"); }
rd_model * rd_test_open_model_b(void) { return open_model("RD_TEST_MODEL_B"); }
rd_model * rd_test_open_model_q8(void) { return open_model("RD_TEST_MODEL_Q8"); }
rd_model * rd_test_open_model_q41(void) { return open_model("RD_TEST_MODEL_Q41"); }
rd_model * rd_test_open_model_q50(void) { return open_model("RD_TEST_MODEL_Q50"); }

int rd_test_read_prompts(int max, char *** out) {
    const char * env  = getenv("RD_TEST_PROMPTS");
    const char * path = env && env[0] ? env : RD_TEST_DEFAULT_PROMPTS;
    const int n = rd_read_prompts(path, max, out);
    CHECK(n > 0, "cannot read a \"prompt\" from %s (set RD_TEST_PROMPTS)", path);
    return n;
}

void rd_test_free_prompts(char ** prompts, int n) { rd_free_prompts(prompts, n); }

rd_status rd_test_write_drafter(const rd_model * m, const char * path, int32_t n_draft_vocab, int32_t n_layers,
                                int32_t n_proj, int32_t weight_type, uint64_t seed) {
    rd_drafter_init_params p;
    rd_drafter_init_default_params(&p);
    p.n_draft_vocab = n_draft_vocab;
    p.n_layers = n_layers;
    p.n_proj = n_proj;
    p.weight_type = weight_type;
    p.seed = seed;
    return rd_drafter_write_random(m, &p, path);
}

unsigned char * rd_test_read_file(const char * path, long * size) {
    FILE * f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char * buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (*size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t) *size);
        if (buf && fread(buf, 1, (size_t) *size, f) != (size_t) *size) { free(buf); buf = NULL; }
    }
    fclose(f);
    return buf;
}
