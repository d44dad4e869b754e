// requantize.cpp - a GGUF's quantized weight matrices converted to another type (q8_0 or f16),
// everything else (metadata, norms, tensors already of that type) copied as is. Why: on x86
// CPUs llama.cpp multiplies q8_0 and f16 weights by several tokens at once with llamafile's
// tiled kernels, while types such as q4_1 take one dot product per token, so a verify of k tree
// nodes costs ~k plain steps there (docs/distill.md, SmolLM2). The conversion is deterministic
// (ggml's reference row (de)quantizers), so a catalog can pin the result's sha256.
#include "internal.h"
#include "ggml.h"
#include "gguf.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct gguf_del { void operator()(gguf_context * g) const { gguf_free(g); } };
struct ggml_del { void operator()(ggml_context * c) const { ggml_free(c); } };

constexpr int64_t ROWS_PER_CHUNK = 256;

} // namespace

rd_status rd_model_requantize(const char * src, const char * dst, const char * type) try {
    if (!src || !dst || !type) return rd_fail(RD_ERR_INVALID_ARG, "rd_model_requantize: src, dst and type are required");
    ggml_type to;
    uint32_t file_type; // llama_ftype of the result
    if (strcmp(type, "q8_0") == 0) { to = GGML_TYPE_Q8_0; file_type = 7; }
    else if (strcmp(type, "f16") == 0) { to = GGML_TYPE_F16; file_type = 1; }
    else return rd_fail(RD_ERR_INVALID_ARG, "cannot requantize to '%s' (q8_0 or f16)", type);

    ggml_context * data = nullptr;
    gguf_init_params ip = {/*no_alloc =*/ false, &data};
    std::unique_ptr<gguf_context, gguf_del> in(gguf_init_from_file(src, ip));
    std::unique_ptr<ggml_context, ggml_del> data_owner(data);
    if (!in || !data) return rd_fail(RD_ERR_FORMAT, "'%s' is not a readable GGUF file", src);

    const int64_t n = gguf_get_n_tensors(in.get());
    std::unique_ptr<gguf_context, gguf_del> out(gguf_init_empty());
    gguf_set_kv(out.get(), in.get());
    gguf_set_val_u32(out.get(), "general.file_type", file_type);
    ggml_init_params cp = {ggml_tensor_overhead() * (size_t) (n + 1), nullptr, /*no_alloc =*/ true};
    std::unique_ptr<ggml_context, ggml_del> meta(ggml_init(cp));
    std::vector<std::vector<uint8_t>> bufs;
    std::vector<float> rows;
    int64_t converted = 0;
    for (int64_t i = 0; i < n; i++) {
        const char * name = gguf_get_tensor_name(in.get(), i);
        ggml_tensor * t = ggml_get_tensor(data, name);
        if (!t) return rd_fail(RD_ERR_FORMAT, "'%s': tensor '%s' is listed but has no data", src, name);
        const ggml_type_traits * from = ggml_get_type_traits(t->type);
        if (t->type == to || !ggml_is_quantized(t->type) || !from->to_float || t->ne[0] % ggml_blck_size(to) != 0) {
            gguf_add_tensor(out.get(), t);
            continue;
        }
        ggml_tensor * nt = ggml_new_tensor(meta.get(), to, ggml_n_dims(t), t->ne);
        ggml_set_name(nt, name);
        const int64_t ne0 = t->ne[0], nrows = ggml_nrows(t);
        bufs.emplace_back(ggml_nbytes(nt));
        uint8_t * o = bufs.back().data();
        rows.resize((size_t) (ROWS_PER_CHUNK * ne0));
        for (int64_t r0 = 0; r0 < nrows; r0 += ROWS_PER_CHUNK) {
            const int64_t k = std::min(ROWS_PER_CHUNK, nrows - r0);
            for (int64_t r = 0; r < k; r++)
                from->to_float(static_cast<const uint8_t *>(t->data) + (size_t) (r0 + r) * t->nb[1], rows.data() + r * ne0, ne0);
            ggml_quantize_chunk(to, rows.data(), o + (size_t) r0 * nt->nb[1], 0, k, ne0, nullptr);
        }
        nt->data = o;
        gguf_add_tensor(out.get(), nt);
        converted++;
    }
    if (converted == 0) return rd_fail(RD_ERR_INVALID_ARG, "'%s' holds no quantized matrix to convert to %s", src, type);
    if (!gguf_write_to_file(out.get(), dst, false)) return rd_fail(RD_ERR_IO, "cannot write '%s'", dst);
    return RD_OK;
} catch (...) { return rd_caught(__func__); }
