/* test_drafter.c - the drafter file through the public header: random init -> save -> load
 * round trips for every weight type, byte-identical output for a fixed seed, refusal of a
 * drafter made for another target (RD_ERR_MISMATCH naming both), of broken or foreign files
 * (RD_ERR_FORMAT / RD_ERR_IO) and of invalid init parameters (RD_ERR_INVALID_ARG).
 * Beam search itself is checked against a double-precision reference in test_drafter_ref.cpp.
 * Scratch files go to the working directory (CTest: the build folder) and are removed. */
#include "redrafter.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F_A     "test_drafter_a.gguf"
#define F_B     "test_drafter_b.gguf"
#define F_BAD   "test_drafter_bad.gguf"


static bool write_file(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) return false;
    const bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static bool file_exists(const char * path) {
    FILE * f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Copy src to dst with the value of GGUF key `key` overwritten by the n bytes at value.
 * A GGUF key-value is (u64 length, key bytes, u32 type, value): the value starts 4 bytes after
 * the key text. */
static bool patch_key(const char * src, const char * dst, const char * key, const void * value, size_t n) {
    long size = 0;
    unsigned char * buf = rd_test_read_file(src, &size);
    if (!buf) return false;
    const size_t klen = strlen(key);
    bool found = false;
    for (long i = 0; i + (long) (klen + 4 + n) <= size && !found; i++) {
        if (memcmp(buf + i, key, klen) == 0) {
            memcpy(buf + i + klen + 4, value, n);
            found = true;
        }
    }
    const bool ok = found && write_file(dst, buf, (size_t) size);
    free(buf);
    return ok;
}

static void test_roundtrip(const rd_model * m) {
    static const int32_t types[] = { RD_WEIGHTS_F32, RD_WEIGHTS_F16, RD_WEIGHTS_Q8_0 };
    static const char * const names[] = { "f32", "f16", "q8_0" };
    long sizes[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        /* n_proj 96: every matrix row is a multiple of the q8_0 block (d = 64 in the tiny model) */
        if (!CHECK_OK(rd_test_write_drafter(m, F_A, 100, 2, 96, types[i], 42))) continue;
        unsigned char * bytes = rd_test_read_file(F_A, &sizes[i]);
        free(bytes);
        rd_drafter * d = NULL;
        if (CHECK_OK(rd_drafter_load(F_A, m, &d))) {
            CHECK(rd_drafter_n_draft_vocab(d) == 100, "%s: V' survives the round trip", names[i]);
            CHECK(rd_drafter_n_layers(d) == 2, "%s: n_layers survives the round trip", names[i]);
        }
        rd_drafter_free(d);
    }
    CHECK(sizes[0] > sizes[1] && sizes[1] > sizes[2], "f32 > f16 > q8_0 in bytes: %ld %ld %ld",
          sizes[0], sizes[1], sizes[2]);

    /* q8_0 with rows that are not whole blocks (e = 40): those matrices fall back to f16 */
    CHECK_OK(rd_test_write_drafter(m, F_A, 50, 1, 40, RD_WEIGHTS_Q8_0, 42));
    rd_drafter * d = NULL;
    CHECK_OK(rd_drafter_load(F_A, m, &d));
    rd_drafter_free(d);

    /* defaults: the whole target vocab, one ResBlock, no projection */
    d = NULL;
    CHECK_OK(rd_drafter_write_random(m, NULL, F_A));
    if (CHECK_OK(rd_drafter_load(F_A, m, &d))) {
        CHECK_EQ_INT(rd_drafter_n_draft_vocab(d), rd_model_n_vocab(m));
        CHECK_EQ_INT(rd_drafter_n_layers(d), 1);
    }
    rd_drafter_free(d);

    /* an explicit draft vocabulary, zero ResBlocks */
    int32_t ids[5] = { 7, 3, rd_model_n_vocab(m) - 1, 0, 100 };
    rd_drafter_init_params p;
    rd_drafter_init_default_params(&p);
    p.n_draft_vocab = 5;
    p.n_layers = 0;
    p.vocab_ids = ids;
    d = NULL;
    CHECK_OK(rd_drafter_write_random(m, &p, F_A));
    if (CHECK_OK(rd_drafter_load(F_A, m, &d))) CHECK_EQ_INT(rd_drafter_n_draft_vocab(d), 5);
    rd_drafter_free(d);
}

static void test_deterministic(const rd_model * m) {
    long na = 0, nb = 0;
    CHECK_OK(rd_test_write_drafter(m, F_A, 64, 1, 0, RD_WEIGHTS_Q8_0, 1234));
    CHECK_OK(rd_test_write_drafter(m, F_B, 64, 1, 0, RD_WEIGHTS_Q8_0, 1234));
    unsigned char * a = rd_test_read_file(F_A, &na);
    unsigned char * b = rd_test_read_file(F_B, &nb);
    CHECK(a && b && na == nb && memcmp(a, b, (size_t) na) == 0, "same seed -> byte-identical files");
    free(b);
    CHECK_OK(rd_test_write_drafter(m, F_B, 64, 1, 0, RD_WEIGHTS_Q8_0, 1235));
    b = rd_test_read_file(F_B, &nb);
    CHECK(a && b && na == nb && memcmp(a, b, (size_t) na) != 0, "another seed -> other weights");
    free(a);
    free(b);
}

static void test_mismatch(const rd_model * m, const rd_model * other) {
    char name[256] = "", other_name[256] = "", fp[32], other_fp[32];
    rd_model_meta(m, "general.name", name, sizeof name);
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long) rd_model_fingerprint(m));
    CHECK_OK(rd_test_write_drafter(m, F_A, 32, 1, 0, RD_WEIGHTS_F32, 42));

    rd_drafter * d = NULL;
    if (other) {
        rd_model_meta(other, "general.name", other_name, sizeof other_name);
        snprintf(other_fp, sizeof other_fp, "%016llx", (unsigned long long) rd_model_fingerprint(other));
        CHECK_EQ_INT(rd_drafter_load(F_A, other, &d), RD_ERR_MISMATCH);
        CHECK(d == NULL, "no handle on failure");
        const char * e = rd_last_error();
        CHECK(strstr(e, name) && strstr(e, other_name) && strstr(e, fp) && strstr(e, other_fp),
              "the message names both targets and fingerprints: %s", e);
    }

    /* same shapes, another fingerprint: refused on the fingerprint alone */
    const uint64_t wrong = rd_model_fingerprint(m) ^ 1;
    if (CHECK(patch_key(F_A, F_BAD, "redrafter.target.fingerprint", &wrong, sizeof wrong), "patch fingerprint")) {
        CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_MISMATCH);
        CHECK(strstr(rd_last_error(), fp) != NULL, "names the loaded target's fingerprint: %s", rd_last_error());
    }
    /* the hidden size is part of the check even with a matching fingerprint */
    const uint32_t wrong_embd = (uint32_t) rd_model_n_embd(m) * 2;
    if (CHECK(patch_key(F_A, F_BAD, "redrafter.target.n_embd", &wrong_embd, sizeof wrong_embd), "patch n_embd"))
        CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_MISMATCH);
    CHECK(d == NULL, "no handle on failure");
}

static void test_bad_files(const rd_model * m) {
    rd_drafter * d = NULL;
    remove(F_BAD);
    CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_IO);
    CHECK(strstr(rd_last_error(), F_BAD) != NULL, "names the file: %s", rd_last_error());

    static const char junk[] = "this is not a GGUF file at all, just some bytes";
    CHECK(write_file(F_BAD, junk, sizeof junk), "write junk");
    CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_FORMAT);

    /* a valid GGUF of another kind: the target model itself */
    CHECK_EQ_INT(rd_drafter_load(getenv("RD_TEST_MODEL"), m, &d), RD_ERR_FORMAT);
    CHECK(strstr(rd_last_error(), "ReDrafter") != NULL, "says what it expected: %s", rd_last_error());

    /* truncated: the header parses, the tensor data runs past the end */
    CHECK_OK(rd_test_write_drafter(m, F_A, 200, 1, 0, RD_WEIGHTS_F32, 42));
    long size = 0;
    unsigned char * buf = rd_test_read_file(F_A, &size);
    if (CHECK(buf != NULL, "read back")) {
        CHECK(write_file(F_BAD, buf, (size_t) size - 1000), "write truncated copy");
        CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_FORMAT);
        CHECK(strstr(rd_last_error(), "truncated") != NULL, "says truncated: %s", rd_last_error());
    }
    free(buf);

    /* header claims a tensor the file lacks (2 ResBlocks, 1 stored) or another shape (V') */
    const uint32_t two = 2, more = 201;
    if (CHECK(patch_key(F_A, F_BAD, "redrafter.n_layers", &two, sizeof two), "patch n_layers")) {
        CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_FORMAT);
        CHECK(strstr(rd_last_error(), "blk.1.w") != NULL, "names the missing tensor: %s", rd_last_error());
    }
    if (CHECK(patch_key(F_A, F_BAD, "redrafter.n_draft_vocab", &more, sizeof more), "patch n_draft_vocab")) {
        CHECK_EQ_INT(rd_drafter_load(F_BAD, m, &d), RD_ERR_FORMAT);
        CHECK(strstr(rd_last_error(), "lm_head.w") != NULL, "names the misshapen tensor: %s", rd_last_error());
    }
    CHECK(d == NULL, "no handle on failure");

    CHECK_EQ_INT(rd_drafter_write_random(m, NULL, "no-such-dir/x/drafter.gguf"), RD_ERR_IO);
}

static void test_invalid_params(const rd_model * m) {
    const int32_t n_vocab = rd_model_n_vocab(m);
    int32_t dup_ids[3] = { 1, 2, 1 };
    int32_t bad_ids[3] = { 1, n_vocab, 2 };
    int32_t neg_ids[3] = { 1, -1, 2 };
    for (int i = 0; i < 11; i++) {
        rd_drafter_init_params p;
        rd_drafter_init_default_params(&p);
        switch (i) {
            case 0:  p.n_draft_vocab = -1; break;
            case 1:  p.n_draft_vocab = n_vocab + 1; break;
            case 2:  p.n_layers = -1; break;
            case 3:  p.n_layers = 17; break;
            case 4:  p.n_proj = -8; break;
            case 5:  p.weight_type = 3; break;
            case 6:  p.init_scale = -1.0f; break;
            case 7:  p.init_scale = NAN; break;
            case 8:  p.n_draft_vocab = 3; p.vocab_ids = dup_ids; break;
            case 9:  p.n_draft_vocab = 3; p.vocab_ids = bad_ids; break;
            default: p.n_draft_vocab = 3; p.vocab_ids = neg_ids; break;
        }
        remove(F_BAD);
        CHECK(rd_drafter_write_random(m, &p, F_BAD) == RD_ERR_INVALID_ARG, "case %d: %s", i, rd_last_error());
        CHECK(!file_exists(F_BAD), "case %d: nothing written", i);
    }
    rd_drafter * d = NULL;
    CHECK_EQ_INT(rd_drafter_write_random(NULL, NULL, F_BAD), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_write_random(m, NULL, NULL), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_load(NULL, m, &d), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_load(F_A, NULL, &d), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_load(F_A, m, NULL), RD_ERR_INVALID_ARG);
}

int main(void) {
    rd_model * m = rd_test_open_model();
    rd_model * other = rd_test_open_model_b();
    if (m) {
        test_roundtrip(m);
        test_deterministic(m);
        test_mismatch(m, other);
        test_bad_files(m);
        test_invalid_params(m);
    }
    rd_model_free(other);
    rd_model_free(m);
    remove(F_A);
    remove(F_B);
    remove(F_BAD);
    return rd_test_done();
}
