// token_embd.cpp - reads rows of the target's token embedding matrix (token_embd.weight) straight
// from its GGUF: llama.cpp exposes no model tensors, and the drafter needs E(x) for a handful of
// tokens per draft step. The file is mapped read-only (the pages are shared with llama.cpp's own
// mapping of the same file, so this costs address space, not memory) and one row is dequantized
// on demand through ggml's type traits, which covers F32, F16, BF16 and every quantized type.
#include "token_embd.h"

#include "ggml.h"
#include "gguf.h"

#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct token_embd_mmap final : token_embd {
    void *          map     = nullptr; // the whole file
    size_t          map_len = 0;
    const uint8_t * data    = nullptr; // first byte of row 0
    size_t          row_bytes = 0;
    ggml_to_float_t to_float = nullptr; // nullptr for F32 (rows are copied)
    int32_t         vocab   = 0;
    int32_t         embd    = 0;

    ~token_embd_mmap() override {
        if (map) munmap(map, map_len);
    }

    void row(int32_t tok, float * out) const override {
        const uint8_t * src = data + (size_t) tok * row_bytes;
        if (to_float) to_float(src, out, embd);
        else memcpy(out, src, (size_t) embd * sizeof(float));
    }
    int32_t n_vocab() const override { return vocab; }
    int32_t n_embd() const override { return embd; }
};

// Owns a gguf_context for the duration of token_embd_open.
struct gguf_closer {
    void operator()(gguf_context * g) const { gguf_free(g); }
};

} // namespace

std::unique_ptr<token_embd> token_embd_open(const std::string & path, std::string * err) {
    auto fail = [err](const std::string & msg) -> std::unique_ptr<token_embd> {
        if (err) *err = msg;
        return nullptr;
    };

    gguf_init_params gp = { /*no_alloc =*/ true, /*ctx =*/ nullptr };
    std::unique_ptr<gguf_context, gguf_closer> g(gguf_init_from_file(path.c_str(), gp));
    if (!g) return fail("'" + path + "' is not a readable GGUF file");

    const int64_t tid = gguf_find_tensor(g.get(), "token_embd.weight");
    if (tid < 0) return fail("no tensor token_embd.weight in '" + path + "'");

    const ggml_type type = gguf_get_tensor_type(g.get(), tid);
    const int64_t * ne = gguf_get_tensor_ne(g.get(), tid);
    if (ne[2] != 1 || ne[3] != 1 || ne[0] <= 0 || ne[1] <= 0 || ne[0] > INT32_MAX || ne[1] > INT32_MAX)
        return fail("token_embd.weight is not a 2-d matrix");
    const ggml_type_traits * tt = ggml_get_type_traits(type);
    if (type != GGML_TYPE_F32 && !tt->to_float)
        return fail(std::string("token_embd.weight has type ") + ggml_type_name(type) + ", which ggml cannot dequantize");

    auto e = std::make_unique<token_embd_mmap>();
    e->to_float  = type == GGML_TYPE_F32 ? nullptr : tt->to_float;
    e->embd      = (int32_t) ne[0];
    e->vocab     = (int32_t) ne[1];
    e->row_bytes = ggml_row_size(type, ne[0]);

    const size_t offset = gguf_get_data_offset(g.get()) + gguf_get_tensor_offset(g.get(), tid);
    const size_t nbytes = e->row_bytes * (size_t) ne[1];

    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return fail("cannot open '" + path + "'");
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t) st.st_size < offset + nbytes) {
        close(fd);
        return fail("'" + path + "' is truncated: token_embd.weight runs past the end of the file");
    }
    e->map_len = (size_t) st.st_size;
    void * map = mmap(nullptr, e->map_len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); // the mapping keeps the file alive
    if (map == MAP_FAILED) return fail("cannot map '" + path + "'");
    e->map  = map;
    e->data = static_cast<const uint8_t *>(map) + offset;
    return e;
}
