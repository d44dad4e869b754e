/* harness.h - what every native test program shares: checks that report file:line and count
 * failures, the summary line, the tiny test model, and the test prompts.
 *
 * Environment (CTest sets all of these, see native/CMakeLists.txt):
 *   RD_LIB_DIR      folder of the ggml/llama shared libraries (backends are loaded from there)
 *   RD_TEST_MODEL   the tiny GGUF made by make-tiny-model (fixture of every test)
 *   RD_TEST_MODEL_B a second one with another seed and vocab, for wrong-target tests
 *   RD_TEST_PROMPTS a JSONL file with a "prompt" field per line; default
 *                   <repo>/tests/fixtures/prompts.jsonl (24 prompts of the repository's own)
 *   RD_TEST_GPU_LAYERS layers the test models offload (-1 = all); default 0, the CPU. Not set
 *                   by CTest: scripts/gpu-check.sh sets it for a run on a GPU
 */
#ifndef RD_TEST_HARNESS_H
#define RD_TEST_HARNESS_H

#include "redrafter.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Each check returns its condition, so a test can stop early: if (!CHECK(p, "...")) return ... */
#define CHECK(cond, ...) rd_test_check((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_EQ_INT(a, b) \
    rd_test_check_eq_int((long long) (a), (long long) (b), __FILE__, __LINE__, #a, #b)
/* |a - b| <= tol; prints both values and the difference */
#define CHECK_NEAR(a, b, tol) \
    rd_test_check_near((double) (a), (double) (b), (double) (tol), __FILE__, __LINE__, #a, #b)
/* an rd_status call that must succeed; prints the status and rd_last_error() otherwise */
#define CHECK_OK(call) rd_test_check_ok((call), __FILE__, __LINE__, #call)

bool rd_test_check(bool ok, const char * file, int line, const char * expr, const char * fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
bool rd_test_check_eq_int(long long a, long long b, const char * file, int line,
                          const char * ea, const char * eb);
bool rd_test_check_near(double a, double b, double tol, const char * file, int line,
                        const char * ea, const char * eb);
bool rd_test_check_ok(rd_status st, const char * file, int line, const char * call);

/* Print "<checks> checks, <failed> failed" and return the exit code (0 = all passed). */
int rd_test_done(void);

/* Load backends from $RD_LIB_DIR, silence llama.cpp, load $RD_TEST_MODEL on the CPU (or with
 * $RD_TEST_GPU_LAYERS offloaded).
 * NULL (counted as a failed check, with the reason printed) when it cannot. Free with
 * rd_model_free(). */
rd_model * rd_test_open_model(void);
/* The same for $RD_TEST_MODEL_B, the other target. */
rd_model * rd_test_open_model_b(void);
rd_model * rd_test_open_model_q8(void); /* the output layer in Q8_0 */
rd_model * rd_test_open_model_q41(void); /* the layers' matrices in Q4_1 (the body kernel) */
rd_model * rd_test_open_model_q50(void); /* the layers' matrices in Q5_0 (its Q5_0 path) */

/* The "prompt" strings of $RD_TEST_PROMPTS (default: the repository's fixture), unescaped to UTF-8,
 * at most max of them (max <= 0: all). *out is an array of malloc'd strings; release it with
 * rd_test_free_prompts(). Returns the count, or -1 (counted as a failed check) when the file
 * cannot be read or holds no prompt. */
int  rd_test_read_prompts(int max, char *** out);
void rd_test_free_prompts(char ** prompts, int n);

/* rd_drafter_write_random for m at path: the library's defaults but for these fields. */
rd_status rd_test_write_drafter(const rd_model * m, const char * path, int32_t n_draft_vocab, int32_t n_layers,
                                int32_t n_proj, int32_t weight_type, uint64_t seed);

/* The whole file at path, malloc'd (caller frees), its length in *size; NULL if unreadable
 * or empty. */
unsigned char * rd_test_read_file(const char * path, long * size);

#ifdef __cplusplus
}
#endif

#endif /* RD_TEST_HARNESS_H */
