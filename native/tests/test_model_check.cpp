// test_model_check.cpp - a GGUF whose hyper-parameters llama.cpp would assert on (abort() the
// process) is refused with RD_ERR_FORMAT naming the key (model_check.cpp). Copies of the tiny
// model with one value changed: block_count 0 and 513, an expert count over llama.cpp's limit,
// experts used without experts, an unknown rope scaling type. Before the check, the first of these
// killed the test with SIGABRT.
#include "harness.h"

#include "gguf.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <unistd.h>

// the metadata with edit() applied, then the original tensor data (its offsets are relative to
// the data section, so they still hold)
static std::string patched(const char * src, const std::function<void(gguf_context *)> & edit) {
    gguf_init_params ip = {true, nullptr};
    gguf_context * g = gguf_init_from_file(src, ip);
    if (!g) return "";
    const size_t data_at = gguf_get_data_offset(g);
    edit(g);
    char path[] = "model-check-XXXXXX";
    const int fd = mkstemp(path);
    std::string out;
    if (fd >= 0) {
        close(fd);
        FILE * in = fopen(src, "rb");
        bool ok = in && gguf_write_to_file(g, path, true);
        FILE * f = ok ? fopen(path, "ab") : nullptr;
        if (f && fseek(in, (long) data_at, SEEK_SET) == 0) {
            char buf[1 << 16];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, in)) > 0) ok = ok && fwrite(buf, 1, n, f) == n;
        } else {
            ok = false;
        }
        if (f) fclose(f);
        if (in) fclose(in);
        if (ok) out = path;
        else unlink(path);
    }
    gguf_free(g);
    return out;
}

int main() {
    rd_model * m = rd_test_open_model(); // also loads the backends
    if (!m) return rd_test_done();
    rd_model_free(m);
    const char * src = getenv("RD_TEST_MODEL");
    struct Case {
        const char * key; // expected in the message
        std::function<void(gguf_context *)> edit;
    };
    const Case cases[] = {
        {"block_count", [](gguf_context * g) { gguf_set_val_u32(g, "llama.block_count", 0); }},
        {"block_count", [](gguf_context * g) { gguf_set_val_u32(g, "llama.block_count", 513); }},
        {"expert_count", [](gguf_context * g) { gguf_set_val_u32(g, "llama.expert_count", 5000); }},
        {"expert_used_count", [](gguf_context * g) { gguf_set_val_u32(g, "llama.expert_used_count", 2); }},
        {"rope.scaling.type", [](gguf_context * g) { gguf_set_val_str(g, "llama.rope.scaling.type", "sideways"); }},
    };
    for (const Case & c : cases) {
        const std::string path = patched(src, c.edit);
        if (!CHECK(!path.empty(), "wrote a patched copy for %s", c.key)) continue;
        rd_model * bad = nullptr;
        CHECK_EQ_INT(rd_model_load(path.c_str(), nullptr, &bad), RD_ERR_FORMAT);
        CHECK(bad == nullptr, "no model for %s", c.key);
        CHECK(strstr(rd_last_error(), c.key) != nullptr, "the message names %s: %s", c.key, rd_last_error());
        unlink(path.c_str());
    }
    // a copy with a value in range still loads
    const std::string fine = patched(src, [](gguf_context *) {});
    rd_model * ok = nullptr;
    if (CHECK(!fine.empty(), "wrote an unchanged copy") && CHECK_OK(rd_model_load(fine.c_str(), nullptr, &ok))) rd_model_free(ok);
    if (!fine.empty()) unlink(fine.c_str());
    return rd_test_done();
}
