// gguf_matrix.h - a 2-d weight matrix of the target, read straight from its GGUF (llama.cpp has
// no API to read model tensors): the token embeddings for the drafter's inputs, and the output
// layer for the LM head the session runs itself (head.h). mmap + ggml type traits.
#pragma once

#include "ggml.h"

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

// Open the tensor `name` of the GGUF at path. On failure returns nullptr and sets *err.
std::unique_ptr<gguf_matrix> gguf_matrix_open(const std::string & path, const char * name, std::string * err);

// True when the GGUF at path has a tensor called name.
bool gguf_has_tensor(const std::string & path, const char * name);
