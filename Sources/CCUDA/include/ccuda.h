// Hand-declared types and function-pointer types of the few CUDA driver, cuBLAS and NVRTC
// entry points adaneg calls. No CUDA header is needed to build: the libraries are opened at run
// time with dlopen and these types give dlsym's results their C signatures. Values of enums are
// the ones documented in cuda.h, cublas_api.h, library_types.h and nvrtc.h (stable ABI).
#ifndef ADANEG_CCUDA_H
#define ADANEG_CCUDA_H

#include <stddef.h>
#include <stdint.h>

// MARK: driver API (libcuda.so.1)
typedef int ccuda_result;               // CUresult; 0 = CUDA_SUCCESS
typedef int ccuda_device;               // CUdevice
typedef void *ccuda_context;            // CUcontext
typedef void *ccuda_module;             // CUmodule
typedef void *ccuda_function;           // CUfunction
typedef void *ccuda_stream;             // CUstream
typedef void *ccuda_event;              // CUevent
typedef unsigned long long ccuda_deviceptr; // CUdeviceptr (64-bit)

enum {
    CCUDA_SUCCESS = 0,
    CCUDA_ERROR_OUT_OF_MEMORY = 2,
    CCUDA_ERROR_NOT_INITIALIZED = 3,
    CCUDA_ERROR_NO_DEVICE = 100,
    CCUDA_ERROR_INVALID_DEVICE = 101,
    CCUDA_ERROR_NOT_READY = 600,
};
enum {
    CCUDA_ATTR_MULTIPROCESSOR_COUNT = 16,
    CCUDA_ATTR_COMPUTE_CAPABILITY_MAJOR = 75,
    CCUDA_ATTR_COMPUTE_CAPABILITY_MINOR = 76,
};

typedef ccuda_result (*ccuda_init_fn)(unsigned int flags);
typedef ccuda_result (*ccuda_driver_get_version_fn)(int *version);
typedef ccuda_result (*ccuda_device_get_count_fn)(int *count);
typedef ccuda_result (*ccuda_device_get_fn)(ccuda_device *device, int ordinal);
typedef ccuda_result (*ccuda_device_get_name_fn)(char *name, int length, ccuda_device device);
typedef ccuda_result (*ccuda_device_get_attribute_fn)(int *value, int attribute, ccuda_device device);
typedef ccuda_result (*ccuda_device_total_mem_fn)(size_t *bytes, ccuda_device device);
typedef ccuda_result (*ccuda_primary_ctx_retain_fn)(ccuda_context *context, ccuda_device device);
typedef ccuda_result (*ccuda_primary_ctx_release_fn)(ccuda_device device);
typedef ccuda_result (*ccuda_ctx_set_current_fn)(ccuda_context context);
typedef ccuda_result (*ccuda_mem_get_info_fn)(size_t *free_bytes, size_t *total_bytes);
typedef ccuda_result (*ccuda_mem_alloc_fn)(ccuda_deviceptr *pointer, size_t bytes);
typedef ccuda_result (*ccuda_mem_free_fn)(ccuda_deviceptr pointer);
typedef ccuda_result (*ccuda_mem_host_alloc_fn)(void **pointer, size_t bytes, unsigned int flags);
typedef ccuda_result (*ccuda_mem_free_host_fn)(void *pointer);
typedef ccuda_result (*ccuda_memcpy_htod_async_fn)(ccuda_deviceptr dst, const void *src, size_t bytes, ccuda_stream stream);
typedef ccuda_result (*ccuda_memcpy_dtoh_async_fn)(void *dst, ccuda_deviceptr src, size_t bytes, ccuda_stream stream);
typedef ccuda_result (*ccuda_memset_d8_async_fn)(ccuda_deviceptr dst, unsigned char value, size_t count, ccuda_stream stream);
typedef ccuda_result (*ccuda_stream_create_fn)(ccuda_stream *stream, unsigned int flags);
typedef ccuda_result (*ccuda_stream_destroy_fn)(ccuda_stream stream);
typedef ccuda_result (*ccuda_stream_synchronize_fn)(ccuda_stream stream);
typedef ccuda_result (*ccuda_event_create_fn)(ccuda_event *event, unsigned int flags);
typedef ccuda_result (*ccuda_event_destroy_fn)(ccuda_event event);
typedef ccuda_result (*ccuda_event_record_fn)(ccuda_event event, ccuda_stream stream);
typedef ccuda_result (*ccuda_event_synchronize_fn)(ccuda_event event);
typedef ccuda_result (*ccuda_event_elapsed_time_fn)(float *milliseconds, ccuda_event start, ccuda_event end);
typedef ccuda_result (*ccuda_module_load_data_fn)(ccuda_module *module, const void *image);
typedef ccuda_result (*ccuda_module_unload_fn)(ccuda_module module);
typedef ccuda_result (*ccuda_module_get_function_fn)(ccuda_function *function, ccuda_module module, const char *name);
typedef ccuda_result (*ccuda_launch_kernel_fn)(ccuda_function f, unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                                               unsigned int blockX, unsigned int blockY, unsigned int blockZ,
                                               unsigned int sharedBytes, ccuda_stream stream, void **params, void **extra);
typedef ccuda_result (*ccuda_get_error_string_fn)(ccuda_result error, const char **text);

// MARK: cuBLAS (libcublas.so.N)
typedef void *ccublas_handle;
typedef int ccublas_status;             // 0 = CUBLAS_STATUS_SUCCESS
enum {
    CCUBLAS_STATUS_SUCCESS = 0,
    CCUBLAS_STATUS_NOT_INITIALIZED = 1,
    CCUBLAS_STATUS_ALLOC_FAILED = 3,
};
enum { CCUBLAS_OP_N = 0, CCUBLAS_OP_T = 1 };
// cudaDataType_t
enum { CCUDA_R_32F = 0, CCUDA_R_16F = 2, CCUDA_R_16BF = 14 };
// cublasComputeType_t
enum { CCUBLAS_COMPUTE_32F = 68 };
enum { CCUBLAS_GEMM_DEFAULT = -1 };

typedef ccublas_status (*ccublas_create_fn)(ccublas_handle *handle);
typedef ccublas_status (*ccublas_destroy_fn)(ccublas_handle handle);
typedef ccublas_status (*ccublas_get_version_fn)(ccublas_handle handle, int *version);
typedef ccublas_status (*ccublas_set_stream_fn)(ccublas_handle handle, ccuda_stream stream);
typedef ccublas_status (*ccublas_set_workspace_fn)(ccublas_handle handle, void *workspace, size_t bytes);
typedef ccublas_status (*ccublas_gemm_strided_batched_ex_fn)(
    ccublas_handle handle, int transa, int transb, int m, int n, int k,
    const void *alpha, const void *A, int Atype, int lda, long long strideA,
    const void *B, int Btype, int ldb, long long strideB,
    const void *beta, void *C, int Ctype, int ldc, long long strideC,
    int batchCount, int computeType, int algo);

// MARK: NVRTC (libnvrtc.so.N)
typedef void *cnvrtc_program;
typedef int cnvrtc_result;              // 0 = NVRTC_SUCCESS
typedef cnvrtc_result (*cnvrtc_version_fn)(int *major, int *minor);
typedef cnvrtc_result (*cnvrtc_create_program_fn)(cnvrtc_program *program, const char *source, const char *name,
                                                  int headers, const char *const *headerSources, const char *const *includeNames);
typedef cnvrtc_result (*cnvrtc_destroy_program_fn)(cnvrtc_program *program);
typedef cnvrtc_result (*cnvrtc_compile_program_fn)(cnvrtc_program program, int optionCount, const char *const *options);
typedef cnvrtc_result (*cnvrtc_get_size_fn)(cnvrtc_program program, size_t *bytes);
typedef cnvrtc_result (*cnvrtc_get_text_fn)(cnvrtc_program program, char *text);
typedef const char *(*cnvrtc_get_error_string_fn)(cnvrtc_result result);

#endif
