// oneclass/linalg/gemm.hpp - GEMM / GEMV through CBLAS (OpenBLAS on Debian).
//
// oneclass parallelises with TBB over independent blocks and calls BLAS single-threaded inside
// each block: two thread pools fighting over two cores is slower than either alone. On first use
// we therefore ask OpenBLAS (when it is the BLAS we link) for one thread, and warm it with one
// large sgemm: on Zen, OpenBLAS's sgemm was measured to stay at a third of its speed for the whole
// process when the process's first sgemm is small (N < 512).
#pragma once

#include <oneclass/core/intrinsics.hpp>  // first: before any header that pulls in <immintrin.h>

#include <oneclass/tensor/matrix.hpp>

#include <cblas.h>

#include <cstddef>
#include <mutex>
#include <type_traits>
#include <vector>

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace oneclass::linalg {

namespace detail {
inline void blas_init_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (&openblas_set_num_threads != nullptr) openblas_set_num_threads(1);
        constexpr int n = 512;
        std::vector<float> a(std::size_t(n) * n, 1.0f), c(std::size_t(n) * n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, a.data(), n, 0.0f,
                    c.data(), n);
    });
}
}  // namespace detail

namespace detail {
/// One CBLAS row-major GEMM call for float or double: C (m x n) = alpha op(A) op(B) + beta C.
template <class T>
void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, T alpha, matrix_view<const T> A,
               matrix_view<const T> B, T beta, matrix_view<T> C) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm: float or double");
    blas_init_once();
    if (m == 0 || n == 0) return;
    if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A.data(), int(A.stride()), B.data(), int(B.stride()), beta,
                    C.data(), int(C.stride()));
    else
        cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A.data(), int(A.stride()), B.data(), int(B.stride()), beta,
                    C.data(), int(C.stride()));
}
}  // namespace detail

/// C = alpha * A * B^T + beta * C, with A: m x k, B: n x k, C: m x n (row-major views).
template <class T>
void gemm_nt(matrix_view<const T> A, matrix_view<const T> B, matrix_view<T> C, T alpha, T beta) {
    detail::gemm_call<T>(CblasNoTrans, CblasTrans, int(A.rows()), int(B.rows()), int(A.cols()), alpha, A, B, beta, C);
}

/// C = alpha * A * B + beta * C, with A: m x k, B: k x n, C: m x n (row-major views).
template <class T>
void gemm_nn(matrix_view<const T> A, matrix_view<const T> B, matrix_view<T> C, T alpha, T beta) {
    detail::gemm_call<T>(CblasNoTrans, CblasNoTrans, int(A.rows()), int(B.cols()), int(A.cols()), alpha, A, B, beta, C);
}

/// C = alpha * A^T * B + beta * C, with A: k x m, B: k x n, C: m x n (row-major views).
template <class T>
void gemm_tn(matrix_view<const T> A, matrix_view<const T> B, matrix_view<T> C, T alpha, T beta) {
    detail::gemm_call<T>(CblasTrans, CblasNoTrans, int(A.cols()), int(B.cols()), int(A.rows()), alpha, A, B, beta, C);
}

/// C = alpha * A^T A (A: n x d, C: d x d, both triangles written): half a GEMM's flops.
template <class T>
void syrk_tn(matrix_view<const T> A, matrix_view<T> C, T alpha) {
    detail::blas_init_once();
    const int n = int(A.rows()), d = int(A.cols());
    if (d == 0) return;
    if constexpr (std::is_same_v<T, float>)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, alpha, A.data(), int(A.stride()), 0.0f, C.data(), int(C.stride()));
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, alpha, A.data(), int(A.stride()), 0.0, C.data(), int(C.stride()));
    for (std::size_t i = 0; i < C.rows(); ++i)
        for (std::size_t j = 0; j < i; ++j) C(i, j) = C(j, i);
}

/// B = B * U in place, U upper triangular (d x d), B: m x d: half a GEMM's flops.
template <class T>
void trmm_right_upper(matrix_view<T> B, matrix_view<const T> U) {
    detail::blas_init_once();
    const int m = int(B.rows()), d = int(B.cols());
    if (m == 0 || d == 0) return;
    if constexpr (std::is_same_v<T, float>)
        cblas_strmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, m, d, 1.0f, U.data(),
                    int(U.stride()), B.data(), int(B.stride()));
    else
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, m, d, 1.0, U.data(),
                    int(U.stride()), B.data(), int(B.stride()));
}

/// y = A * x, A: m x k row-major, x: k, y: m.
template <class T>
void gemv(matrix_view<const T> A, const T* x, T* y) {
    detail::blas_init_once();
    const int m = int(A.rows()), k = int(A.cols());
    if (m == 0) return;
    if constexpr (std::is_same_v<T, float>)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0f, A.data(), int(A.stride()), x, 1, 0.0f, y, 1);
    else
        cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0, A.data(), int(A.stride()), x, 1, 0.0, y, 1);
}

}  // namespace oneclass::linalg
