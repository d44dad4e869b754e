// gguf_matrix.h - a 2-d weight matrix of the target, read straight from its GGUF (llama.cpp has
// no API to read model tensors): the token embeddings for the drafter's inputs, and the output
// layer for the LM head the session runs itself (head.h). mmap + ggml type traits.
#pragma once

#include "ggml.h"
#include "gguf.h"

#include <cstdint>
#include <memory>
#include <string>

struct gguf_matrix {
    virtual ~gguf_matrix() = default;
    // Dequantize row r (0 <= r < n_rows) into out (n_cols floats).
    virtual void row(int32_t r, float * out) const = 0;
    virtual int32_t n_rows() const = 0;  // ne[1]: the vocabulary for both matrices
    virtual int32_t n_cols() const = 0;  // ne[0]: the hidden size
    virtual ggml_type type() const = 0;
    virtual const void * data() const = 0; // row 0, in the file's (ggml) layout, read-only
};

struct gguf_closer {
    void operator()(gguf_context * g) const { gguf_free(g); }
};
using gguf_ptr = std::unique_ptr<gguf_context, gguf_closer>;

// The metadata and tensor table of the GGUF at path (no tensor data); null if unreadable.
// Parsing it takes ~50 ms for a 262k-token vocabulary: open several matrices from one.
gguf_ptr gguf_read_meta(const std::string & path);

// Open the tensor `name` of the GGUF at path, whose metadata g holds. On failure returns
// nullptr and sets *err.
std::unique_ptr<gguf_matrix> gguf_matrix_open(const std::string & path, const gguf_context * g, const char * name,
                                              std::string * err);
// The same, reading the metadata itself.
std::unique_ptr<gguf_matrix> gguf_matrix_open(const std::string & path, const char * name, std::string * err);
