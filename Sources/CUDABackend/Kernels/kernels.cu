// adaneg's CUDA kernels: everything of CLIP's towers that is not a matrix product (those go
// through cuBLAS). Compiled at run time by NVRTC for the device's architecture, once per process,
// with ADANEG_FP16 defined for fp16 runs (bf16 otherwise). No header is included, so NVRTC needs
// no CUDA include folder: low-precision values are 16-bit patterns converted with PTX `cvt`.
//
// Each kernel mirrors a CPU step of Sources/CLIP and Sources/Tensor/NeuralKernels.swift and does
// its arithmetic in fp32, as the CPU does: layer norm is two-pass (mean, then the mean of squared
// deviations) with 1/sqrt(var + eps); softmax subtracts the row maximum; GELU is the erf form.
// Element-wise kernels use grid-stride loops over 64-bit indices; row kernels run one block per
// row (blockDim.x a multiple of 32, at most 1024).

typedef unsigned short lowp;   // bf16 or fp16 bits
typedef long long i64;

__device__ __forceinline__ lowp to_lowp(float x) {
    unsigned short r;
#ifdef ADANEG_FP16
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(x));
#else
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(x));
#endif
    return r;
}

__device__ __forceinline__ float from_lowp(lowp h) {
#ifdef ADANEG_FP16
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#else
    return __uint_as_float(((unsigned int)h) << 16);
#endif
}

// Sum over the block; every thread gets the result. `scratch` holds 32 floats.
__device__ float block_sum(float v, float *scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    float t = lane < warps ? scratch[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
    return t;
}

__device__ float block_max(float v, float *scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    float t = lane < warps ? scratch[lane] : -3.402823466e38f;
    for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
    return t;
}

#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// uint8 CHW images (batch × 3 × size × size) → normalised patches in the conv kernel's order:
// row (b, gy, gx), column (c, ky, kx); value (v / 255 − mean[c]) / std[c], as CLIP's ToTensor +
// Normalize (ImagePreprocessor's lookup table computes the same expression).
extern "C" __global__ void adaneg_pixels_to_patches(const unsigned char *pixels, lowp *patches, int batch, int size, int patch,
                                                    float m0, float m1, float m2, float s0, float s1, float s2) {
    int grid = size / patch, k = 3 * patch * patch;
    i64 n = (i64)batch * grid * grid * k;
    GRID_STRIDE(i, n) {
        i64 row = i / k;
        int col = (int)(i % k);
        int c = col / (patch * patch), ky = (col / patch) % patch, kx = col % patch;
        i64 b = row / (grid * grid);
        int cell = (int)(row % (grid * grid));
        int gy = cell / grid, gx = cell % grid;
        unsigned char v = pixels[b * 3 * size * size + (i64)c * size * size + (i64)(gy * patch + ky) * size + gx * patch + kx];
        float mean = c == 0 ? m0 : (c == 1 ? m1 : m2);
        float sd = c == 0 ? s0 : (c == 1 ? s1 : s2);
        patches[i] = to_lowp(((float)v / 255.0f - mean) / sd);
    }
}

// x[b, 0] = class + pos[0]; x[b, 1 + n] = patchOut[b, n] + pos[1 + n].
extern "C" __global__ void adaneg_assemble_tokens(const float *patch_out, const float *cls, const float *pos, float *x,
                                                  int batch, int tokens, int hidden) {
    i64 n = (i64)batch * tokens * hidden;
    GRID_STRIDE(i, n) {
        int j = (int)(i % hidden);
        i64 bt = i / hidden;
        int t = (int)(bt % tokens);
        i64 b = bt / tokens;
        float v = t == 0 ? cls[j] : patch_out[(b * (tokens - 1) + t - 1) * hidden + j];
        x[i] = v + pos[(i64)t * hidden + j];
    }
}

// x[r] = table[ids[r]] + pos[r mod seq] (ids are checked against the vocabulary on the host).
extern "C" __global__ void adaneg_embed_tokens(const int *ids, const float *table, const float *pos, float *x,
                                               int rows, int seq, int hidden) {
    i64 n = (i64)rows * hidden;
    GRID_STRIDE(i, n) {
        int j = (int)(i % hidden);
        i64 r = i / hidden;
        x[i] = table[(i64)ids[r] * hidden + j] + pos[(i64)(r % seq) * hidden + j];
    }
}

// One block per row: out = (x − mean) / sqrt(var + eps) · gamma + beta, into out_f (fp32) and/or
// out_l (low precision, the next product's input); either may be null.
extern "C" __global__ void adaneg_layernorm(const float *x, const float *gamma, const float *beta, float *out_f, lowp *out_l,
                                            int rows, int cols, float eps) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    if (r >= rows) return;
    const float *src = x + r * cols;
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += src[j];
    float mean = block_sum(s, scratch) / (float)cols;
    float q = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) { float d = src[j] - mean; q += d * d; }
    float inv = 1.0f / sqrtf(block_sum(q, scratch) / (float)cols + eps);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float y = (src[j] - mean) * inv * gamma[j] + beta[j];
        if (out_f) out_f[r * cols + j] = y;
        if (out_l) out_l[r * cols + j] = to_lowp(y);
    }
}

// out = act(in + bias) in low precision. act: 0 none, 1 quick_gelu, 2 gelu (erf), 3 gelu (tanh), 4 relu.
extern "C" __global__ void adaneg_bias_activation(const float *in, const float *bias, lowp *out, int rows, int cols, int act) {
    i64 n = (i64)rows * cols;
    GRID_STRIDE(i, n) {
        float v = in[i] + bias[i % cols];
        if (act == 1) v = v / (1.0f + expf(-1.702f * v));
        else if (act == 2) v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        else if (act == 3) v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        else if (act == 4) v = fmaxf(v, 0.0f);
        out[i] = to_lowp(v);
    }
}

// x += bias, row by row (before a product accumulates into x with beta = 1).
extern "C" __global__ void adaneg_add_bias(float *x, const float *bias, int rows, int cols) {
    i64 n = (i64)rows * cols;
    GRID_STRIDE(i, n) { x[i] += bias[i % cols]; }
}

// Fused [Q | K | V] rows (batch·seq × 3·hidden, fp32) plus bias → q, k, v in low precision, each
// laid out head-major (batch, head, seq, headDim) so attention is one strided-batched product.
extern "C" __global__ void adaneg_split_heads(const float *qkv, const float *bias, lowp *q, lowp *k, lowp *v,
                                             int batch, int seq, int heads, int head_dim) {
    int hidden = heads * head_dim;
    i64 n = (i64)batch * seq * 3 * hidden;
    GRID_STRIDE(i, n) {
        int c = (int)(i % (3 * hidden));
        i64 r = i / (3 * hidden);
        int part = c / hidden, within = c % hidden;
        int h = within / head_dim, e = within % head_dim;
        i64 b = r / seq;
        int s = (int)(r % seq);
        i64 dst = ((b * heads + h) * seq + s) * head_dim + e;
        lowp value = to_lowp(qkv[i] + bias[c]);
        if (part == 0) q[dst] = value; else if (part == 1) k[dst] = value; else v[dst] = value;
    }
}

// One block per score row (rows = batch·heads·seq, seq columns, already scaled by 1/sqrt(headDim)):
// probabilities in low precision; with causal, row i (its position i = row mod seq) keeps
// columns 0...i and writes zeros after them.
extern "C" __global__ void adaneg_softmax(const float *scores, lowp *probs, int rows, int seq, int causal) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    if (r >= rows) return;
    int length = causal ? (int)(r % seq) + 1 : seq;
    const float *src = scores + r * seq;
    float m = -3.402823466e38f;
    for (int j = threadIdx.x; j < length; j += blockDim.x) m = fmaxf(m, src[j]);
    m = block_max(m, scratch);
    float s = 0.0f;
    for (int j = threadIdx.x; j < length; j += blockDim.x) s += expf(src[j] - m);
    float inv = 1.0f / block_sum(s, scratch);
    for (int j = threadIdx.x; j < seq; j += blockDim.x)
        probs[r * seq + j] = j < length ? to_lowp(expf(src[j] - m) * inv) : (lowp)0;
}

// Heads' outputs (batch, head, seq, headDim; fp32) side by side again: batch·seq × hidden, low precision.
extern "C" __global__ void adaneg_merge_heads(const float *o, lowp *out, int batch, int seq, int heads, int head_dim) {
    int hidden = heads * head_dim;
    i64 n = (i64)batch * seq * hidden;
    GRID_STRIDE(i, n) {
        int c = (int)(i % hidden);
        i64 r = i / hidden;
        int h = c / head_dim, e = c % head_dim;
        i64 b = r / seq;
        int s = (int)(r % seq);
        out[i] = to_lowp(o[((b * heads + h) * seq + s) * head_dim + e]);
    }
}

// out[i] = x[rows[i]] (the class token, or each prompt's end-of-text token).
extern "C" __global__ void adaneg_gather_rows(const float *x, const int *rows, float *out, int count, int cols) {
    i64 n = (i64)count * cols;
    GRID_STRIDE(i, n) { out[i] = x[(i64)rows[i / cols] * cols + i % cols]; }
}

// One block per row: x /= ‖x‖ (rows of norm 0 stay 0).
extern "C" __global__ void adaneg_l2_normalize(float *x, int rows, int cols) {
    __shared__ float scratch[32];
    i64 r = blockIdx.x;
    if (r >= rows) return;
    float *row = x + r * cols;
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += row[j] * row[j];
    float norm = sqrtf(block_sum(s, scratch));
    if (norm > 0.0f) {
        float inv = 1.0f / norm;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) row[j] *= inv;
    }
}

// fp32 ↔ low precision (diagnostics and the GEMM probe's inputs).
extern "C" __global__ void adaneg_cast_to_lowp(const float *in, lowp *out, i64 n) {
    GRID_STRIDE(i, n) { out[i] = to_lowp(in[i]); }
}

extern "C" __global__ void adaneg_cast_from_lowp(const lowp *in, float *out, i64 n) {
    GRID_STRIDE(i, n) { out[i] = from_lowp(in[i]); }
}
