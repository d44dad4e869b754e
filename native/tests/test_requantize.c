/* test_requantize.c - rd_model_requantize on the tiny models: a Q6_K output layer becomes Q8_0
 * (or F16) while F32 tensors stay as they are, the result loads as a model, two runs give the
 * same bytes, and bad requests are clear errors (unknown type, nothing to convert, not a GGUF,
 * unwritable output). Scratch files go to the working directory and are removed. */
#include "redrafter.h"
#include "harness.h"
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F_A "test_requantize_a.gguf"
#define F_B "test_requantize_b.gguf"
#define F_H "test_requantize_f16.gguf"

/* the type of tensor name in the GGUF at path, -1 when absent or unreadable */
static int tensor_type(const char * path, const char * name) {
    struct gguf_init_params ip = {true, NULL};
    struct gguf_context * g = gguf_init_from_file(path, ip);
    if (!g) return -1;
    const int64_t i = gguf_find_tensor(g, name);
    const int type = i < 0 ? -1 : (int) gguf_get_tensor_type(g, i);
    gguf_free(g);
    return type;
}

int main(void) {
    const char * q6k = getenv("RD_TEST_MODEL_Q6K"), * q8 = getenv("RD_TEST_MODEL_Q8");
    if (!CHECK(q6k && q8, "RD_TEST_MODEL_Q6K and RD_TEST_MODEL_Q8 must be set (CTest sets them)")) return rd_test_done();
    rd_backend_init(getenv("RD_LIB_DIR"));

    CHECK_EQ_INT(tensor_type(q6k, "output.weight"), GGML_TYPE_Q6_K);
    if (CHECK_OK(rd_model_requantize(q6k, F_A, "q8_0"))) {
        CHECK_EQ_INT(tensor_type(F_A, "output.weight"), GGML_TYPE_Q8_0);
        CHECK_EQ_INT(tensor_type(F_A, "token_embd.weight"), tensor_type(q6k, "token_embd.weight"));
        CHECK_EQ_INT(tensor_type(F_A, "blk.0.attn_norm.weight"), GGML_TYPE_F32);
        CHECK_OK(rd_model_requantize(q6k, F_B, "q8_0"));
        long sa = 0, sb = 0;
        unsigned char * a = rd_test_read_file(F_A, &sa), * b = rd_test_read_file(F_B, &sb);
        CHECK(a && b && sa == sb && memcmp(a, b, (size_t) sa) == 0, "two conversions of one file differ");
        free(a);
        free(b);
        rd_model * m = NULL, * orig = NULL;
        if (CHECK_OK(rd_model_load(F_A, NULL, &m)) && CHECK_OK(rd_model_load(q6k, NULL, &orig)))
            CHECK_EQ_INT(rd_model_n_vocab(m), rd_model_n_vocab(orig));
        rd_model_free(m);
        rd_model_free(orig);
    }
    if (CHECK_OK(rd_model_requantize(q6k, F_H, "f16"))) CHECK_EQ_INT(tensor_type(F_H, "output.weight"), GGML_TYPE_F16);

    CHECK_EQ_INT(rd_model_requantize(q6k, F_B, "q4_0"), RD_ERR_INVALID_ARG);
    CHECK(strstr(rd_last_error(), "q4_0") != NULL, "message: %s", rd_last_error());
    CHECK_EQ_INT(rd_model_requantize(q8, F_B, "q8_0"), RD_ERR_INVALID_ARG); /* Q8_0 output, F32 layers */
    CHECK(strstr(rd_last_error(), "no quantized matrix") != NULL, "message: %s", rd_last_error());
    FILE * f = fopen(F_B, "wb");
    if (f) { fputs("not a gguf at all", f); fclose(f); }
    CHECK_EQ_INT(rd_model_requantize(F_B, F_A, "q8_0"), RD_ERR_FORMAT);
    CHECK_EQ_INT(rd_model_requantize(q6k, "no-such-dir/x/out.gguf", "q8_0"), RD_ERR_IO);
    CHECK_EQ_INT(rd_model_requantize(NULL, F_A, "q8_0"), RD_ERR_INVALID_ARG);

    remove(F_A);
    remove(F_B);
    remove(F_H);
    return rd_test_done();
}
