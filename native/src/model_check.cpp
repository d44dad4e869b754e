// model_check.cpp - hyper-parameters llama.cpp asserts on, checked before it loads a file.
//
// llama.cpp's loader reads `<arch>.block_count` and friends and then GGML_ASSERTs their ranges
// (llama-model.cpp, load_hparams): an assert calls abort(), which no caller can catch, so one
// corrupted or hostile GGUF (bench/hostile.ts: Gemma 3 with block_count 0) took the whole process
// down. Those values are read here first, from the metadata alone, and refused with
// RD_ERR_FORMAT. Ranges as llama.cpp asserts them: LLAMA_MAX_LAYERS 512, LLAMA_MAX_EXPERTS 1024.
#include "internal.h"

#include "gguf.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

namespace {

constexpr uint64_t MAX_LAYERS = 512;
constexpr uint64_t MAX_EXPERTS = 1024;

struct meta {
    const gguf_context * g;
    std::string arch;

    // an integer key's value; -1 when absent, -2 when it is not a non-negative integer scalar
    int64_t num(const char * suffix) const {
        const int64_t k = gguf_find_key(g, (arch + "." + suffix).c_str());
        if (k < 0) return -1;
        switch (gguf_get_kv_type(g, k)) {
            case GGUF_TYPE_UINT8: return gguf_get_val_u8(g, k);
            case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, k);
            case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, k);
            case GGUF_TYPE_UINT64: return gguf_get_val_u64(g, k) > (uint64_t) INT64_MAX ? -2 : (int64_t) gguf_get_val_u64(g, k);
            case GGUF_TYPE_INT8: return gguf_get_val_i8(g, k) < 0 ? -2 : gguf_get_val_i8(g, k);
            case GGUF_TYPE_INT16: return gguf_get_val_i16(g, k) < 0 ? -2 : gguf_get_val_i16(g, k);
            case GGUF_TYPE_INT32: return gguf_get_val_i32(g, k) < 0 ? -2 : gguf_get_val_i32(g, k);
            case GGUF_TYPE_INT64: return gguf_get_val_i64(g, k) < 0 ? -2 : gguf_get_val_i64(g, k);
            default: return -2; // arrays (per-layer values) and other types: llama.cpp checks those itself
        }
    }
};

}  // namespace

rd_status rd_model_check_hparams(const char * path) {
    gguf_init_params ip = {true, nullptr};
    std::unique_ptr<gguf_context, decltype(&gguf_free)> g(gguf_init_from_file(path, ip), gguf_free);
    if (!g) return rd_fail(RD_ERR_FORMAT, "'%s' is not a readable GGUF file (corrupt header or metadata)", path);
    const int64_t ka = gguf_find_key(g.get(), "general.architecture");
    if (ka < 0 || gguf_get_kv_type(g.get(), ka) != GGUF_TYPE_STRING)
        return rd_fail(RD_ERR_FORMAT, "'%s' has no general.architecture", path);
    const meta m{g.get(), gguf_get_val_str(g.get(), ka)};
    auto bad = [&](const char * what, int64_t v) {
        return rd_fail(RD_ERR_FORMAT, "'%s': %s.%s = %lld is out of range (a corrupt file?)", path, m.arch.c_str(), what,
                       (long long) v);
    };

    const int64_t layers = m.num("block_count");
    if (layers == -2 || layers == 0 || layers > (int64_t) MAX_LAYERS) return bad("block_count", layers);
    if (layers > 0) {
        for (const char * k : {"nextn_predict_layers", "posnet.block_count", "convnext.block_count"})
            if (const int64_t v = m.num(k); v == -2 || v > layers) return bad(k, v);
    }
    const int64_t experts = m.num("expert_count");
    if (experts == -2 || experts > (int64_t) MAX_EXPERTS) return bad("expert_count", experts);
    const int64_t used = m.num("expert_used_count"); // may be a per-layer array: -2, left to llama.cpp
    if (used >= 0 && (used > std::max<int64_t>(experts, 0) || (experts > 0 && used == 0))) return bad("expert_used_count", used);
    const int64_t groups = m.num("expert_group_count");
    if (groups > 0) {
        const int64_t group_used = m.num("expert_group_used_count");
        if (experts <= 0 || groups >= experts || experts % groups != 0) return bad("expert_group_count", groups);
        if (group_used <= 0 || group_used >= groups) return bad("expert_group_used_count", group_used);
    } else if (groups == -2) {
        return bad("expert_group_count", groups);
    }
    // an unknown rope scaling name reads as "unspecified", which llama.cpp asserts against
    const int64_t kr = gguf_find_key(g.get(), (m.arch + ".rope.scaling.type").c_str());
    if (kr >= 0) {
        const char * t = gguf_get_kv_type(g.get(), kr) == GGUF_TYPE_STRING ? gguf_get_val_str(g.get(), kr) : "";
        bool known = false;
        for (const char * name : {"none", "linear", "yarn", "longrope"}) known = known || strcmp(t, name) == 0;
        if (!known) return rd_fail(RD_ERR_FORMAT, "'%s': unknown %s.rope.scaling.type '%s'", path, m.arch.c_str(), t);
    }
    return RD_OK;
}
