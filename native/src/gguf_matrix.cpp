// gguf_matrix.cpp - a weight matrix of the target read straight from its GGUF: llama.cpp exposes
// no model tensors, yet the drafter needs E(x) for a handful of tokens per draft step and the
// session's own LM head needs the output layer. The file is mapped read-only (the pages are
// shared with llama.cpp's own mapping of the same file, so this costs address space, not memory)
// and one row is dequantized on demand through ggml's type traits, which covers F32, F16, BF16
// and every quantized type.
#include "gguf_matrix.h"

#include "ggml.h"
#include "gguf.h"

#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct gguf_matrix_mmap final : gguf_matrix {
    void *          map       = nullptr; // the whole file
    size_t          map_len   = 0;
    const uint8_t * base      = nullptr; // first byte of row 0
    size_t          row_bytes = 0;
    ggml_to_float_t to_float  = nullptr; // nullptr for F32 (rows are copied)
    ggml_type       ty        = GGML_TYPE_F32;
    int32_t         rows      = 0;
    int32_t         cols      = 0;

    ~gguf_matrix_mmap() override {
        if (map) munmap(map, map_len);
    }

    void row(int32_t r, float * out) const override {
        const uint8_t * src = base + (size_t) r * row_bytes;
        if (to_float) to_float(src, out, cols);
        else memcpy(out, src, (size_t) cols * sizeof(float));
    }
    int32_t n_rows() const override { return rows; }
    int32_t n_cols() const override { return cols; }
    ggml_type type() const override { return ty; }
    const void * data() const override { return base; }
};

} // namespace

gguf_ptr gguf_read_meta(const std::string & path) {
    gguf_init_params gp = { /*no_alloc =*/ true, /*ctx =*/ nullptr };
    return gguf_ptr(gguf_init_from_file(path.c_str(), gp));
}

std::unique_ptr<gguf_matrix> gguf_matrix_open(const std::string & path, const char * name, std::string * err) {
    gguf_ptr g = gguf_read_meta(path);
    if (!g) {
        if (err) *err = "'" + path + "' is not a readable GGUF file";
        return nullptr;
    }
    return gguf_matrix_open(path, g.get(), name, err);
}

std::unique_ptr<gguf_matrix> gguf_matrix_open(const std::string & path, const gguf_context * g, const char * name,
                                              std::string * err) {
    auto fail = [err](const std::string & msg) -> std::unique_ptr<gguf_matrix> {
        if (err) *err = msg;
        return nullptr;
    };
    const std::string tn = name;

    const int64_t tid = gguf_find_tensor(g, name);
    if (tid < 0) return fail("no tensor " + tn + " in '" + path + "'");

    const ggml_type type = gguf_get_tensor_type(g, tid);
    const int64_t * ne = gguf_get_tensor_ne(g, tid);
    if (ne[2] != 1 || ne[3] != 1 || ne[0] <= 0 || ne[1] <= 0 || ne[0] > INT32_MAX || ne[1] > INT32_MAX)
        return fail(tn + " is not a 2-d matrix");
    const ggml_type_traits * tt = ggml_get_type_traits(type);
    if (type != GGML_TYPE_F32 && !tt->to_float)
        return fail(tn + " has type " + ggml_type_name(type) + ", which ggml cannot dequantize");

    auto e = std::make_unique<gguf_matrix_mmap>();
    e->to_float  = type == GGML_TYPE_F32 ? nullptr : tt->to_float;
    e->ty        = type;
    e->cols      = (int32_t) ne[0];
    e->rows      = (int32_t) ne[1];
    e->row_bytes = ggml_row_size(type, ne[0]);

    const size_t offset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, tid);
    const size_t nbytes = e->row_bytes * (size_t) ne[1];

    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return fail("cannot open '" + path + "'");
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t) st.st_size < offset + nbytes) {
        close(fd);
        return fail("'" + path + "' is truncated: " + tn + " runs past the end of the file");
    }
    e->map_len = (size_t) st.st_size;
    void * map = mmap(nullptr, e->map_len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); // the mapping keeps the file alive
    if (map == MAP_FAILED) return fail("cannot map '" + path + "'");
    e->map  = map;
    e->base = static_cast<const uint8_t *>(map) + offset;
    return e;
}
