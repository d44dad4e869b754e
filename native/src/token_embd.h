// token_embd.h - rows of the target's token embedding matrix, read straight from its GGUF
// (llama.cpp has no API to read model tensors): mmap + ggml type traits to dequantize one row.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct token_embd {
    virtual ~token_embd() = default;
    // Dequantize the embedding row of token tok (0 <= tok < n_vocab) into out (n_embd floats).
    virtual void row(int32_t tok, float * out) const = 0;
    virtual int32_t n_vocab() const = 0;
    virtual int32_t n_embd() const = 0;
};

// Open path's `token_embd.weight`. On failure returns nullptr and sets *err.
std::unique_ptr<token_embd> token_embd_open(const std::string & path, std::string * err);
