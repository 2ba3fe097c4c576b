/*
 * bench_kernels.c — speed of kern_matmul on the SmolLM-135M shapes (not a unit test; no assertions).
 *
 *   bench_kernels [-t threads] [-T type] [-n batch,...] [-i isa] [-m]
 *     -t  pool threads (default: online CPUs)        -T  f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 | q5_0
 *         | q5_1 | iq4_nl | q2_k | q3_k | q4_k | q5_k | q6_k
 *     -n  batch sizes to time (default 1,512)        -i  cap the instruction set: scalar | avx2 | avx512
 *     -m  also time the whole model's matmuls per token (30 layers + LM head), like decode / pp512
 *     -c  at n = 1, use one copy of each weight (cache-resident: compute speed rather than DRAM speed)
 *     -k  also time the int8 GEMM kernel alone (the ISA table's gemm_q8, packing included, activations quantized
 *         beforehand) on the calling thread, by that thread's CPU time: the kernel's own speed, steady on a shared
 *         machine (time slices lost to other processes do not count; a shared core's slower execution still does)
 *
 * For each shape W (rows x cols; for the K-quants, 576 columns become 768) it prints time per call, GFLOP/s
 * (2*n*rows*cols per call; int8 operations for the quantized types) and GB/s of weight bytes read, from wall time, and
 * GFLOP/s(cpu): the same from the process's CPU time divided by the threads, i.e. the rate while the threads ran. On
 * a shared machine the second is the steadier figure (time slices lost to other processes do not count; a shared
 * core's slower execution still does). At n = 1 the weights rotate through copies totalling > 256 MiB so that they
 * come from DRAM, as in a real decode step; a streaming read of 1 GiB gives the machine's bandwidth in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/kern.h"
#include "kernels/kern_impl.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds used by the calling thread. */
static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds used by the whole process (every pool thread, spinning included). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* Random weight data with sane fp16 scales (all-random bytes could hold NaN scales). */
static void fill(dtype_t t, uint8_t *p, int64_t rows, int64_t cols) {
    const size_t rb = (size_t)dtype_row_bytes(t, cols);
    for (size_t i = 0; i < rb * (size_t)rows; i += 4) {
        uint32_t v = rnd();
        memcpy(p + i, &v, rb * (size_t)rows - i < 4 ? rb * (size_t)rows - i : 4);
    }
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = p + (size_t)r * rb;
        const uint16_t h = kern_fp32_to_fp16(0.001f);
        switch (t) {
        case DT_Q8_0:
            for (int64_t b = 0; b < cols / 32; b++)
                memcpy(row + 34 * b, &h, 2);
            break;
        case DT_Q4_0:
            for (int64_t b = 0; b < cols / 32; b++)
                memcpy(row + 18 * b, &h, 2);
            break;
        case DT_Q4_K:
            for (int64_t b = 0; b < cols / 256; b++) {
                memcpy(row + 144 * b, &h, 2);
                memcpy(row + 144 * b + 2, &h, 2);
            }
            break;
        case DT_Q6_K:
            for (int64_t b = 0; b < cols / 256; b++)
                memcpy(row + 210 * b + 208, &h, 2);
            break;
        case DT_Q4_1: case DT_Q5_0: case DT_Q5_1: case DT_IQ4_NL: /* d (and m) lead the block */
            for (int64_t b = 0; b < cols / 32; b++) {
                memcpy(row + dtype_block_bytes(t) * b, &h, 2);
                if (t == DT_Q4_1 || t == DT_Q5_1) memcpy(row + dtype_block_bytes(t) * b + 2, &h, 2);
            }
            break;
        case DT_Q5_K:
            for (int64_t b = 0; b < cols / 256; b++) {
                memcpy(row + 176 * b, &h, 2);
                memcpy(row + 176 * b + 2, &h, 2);
            }
            break;
        case DT_Q3_K:
            for (int64_t b = 0; b < cols / 256; b++)
                memcpy(row + 110 * b + 108, &h, 2);
            break;
        case DT_Q2_K:
            for (int64_t b = 0; b < cols / 256; b++) {
                memcpy(row + 84 * b + 80, &h, 2);
                memcpy(row + 84 * b + 82, &h, 2);
            }
            break;
        case DT_F16:
            for (int64_t i = 0; i < cols; i++) {
                uint16_t v = kern_fp32_to_fp16((float)(rnd() % 1000) * 1e-5f);
                memcpy(row + 2 * i, &v, 2);
            }
            break;
        case DT_BF16:
            for (int64_t i = 0; i < cols; i++) {
                uint16_t v = 0x3c00 | (rnd() & 0xff);
                memcpy(row + 2 * i, &v, 2);
            }
            break;
        case DT_F32:
            for (int64_t i = 0; i < cols; i++) {
                float v = (float)(rnd() % 1000) * 1e-5f;
                memcpy(row + 4 * i, &v, 4);
            }
            break;
        default: break;
        }
    }
}

typedef struct {
    kern_weight_t *copies;
    int n_copies;
    uint8_t *mem;
} bweight_t;

static int make(bweight_t *bw, dtype_t t, int64_t rows, int64_t cols, size_t min_total) {
    const size_t rb = (size_t)dtype_row_bytes(t, cols), bytes = rb * (size_t)rows;
    bw->n_copies = (int)((min_total + bytes - 1) / bytes);
    if (bw->n_copies < 1) bw->n_copies = 1;
    bw->mem = malloc(bytes * (size_t)bw->n_copies);
    bw->copies = calloc((size_t)bw->n_copies, sizeof *bw->copies);
    if (!bw->mem || !bw->copies) return -1;
    fill(t, bw->mem, rows, cols);
    for (int c = 0; c < bw->n_copies; c++) {
        if (c) memcpy(bw->mem + bytes * (size_t)c, bw->mem, bytes);
        bw->copies[c] = (kern_weight_t){t, rows, cols, bw->mem + bytes * (size_t)c, rb};
    }
    return 0;
}

static double bandwidth_gbs(void) {
    const size_t n = (size_t)1 << 28; /* 1 GiB of floats */
    float *a = malloc(n * sizeof(float));
    if (!a) return 0;
    for (size_t i = 0; i < n; i += 1024)
        a[i] = 1.0f; /* touch pages */
    memset(a, 0, n * sizeof(float));
    double best = 1e9;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        sink += kern_dot_f32(a, a, (int64_t)n); /* reads 1 GiB (a twice, from the same lines) */
        double t1 = now_s();
        if (t1 - t0 < best) best = t1 - t0;
    }
    (void)sink;
    free(a);
    return (double)n * sizeof(float) / best / 1e9;
}

static void empty_job(void *ctx, int ith, int nth) {
    (void)ctx;
    (void)ith;
    (void)nth;
}

static dtype_t parse_type(const char *s) {
    if (!strcmp(s, "q8_0")) return DT_Q8_0;
    if (!strcmp(s, "q4_0")) return DT_Q4_0;
    if (!strcmp(s, "q4_k")) return DT_Q4_K;
    if (!strcmp(s, "q6_k")) return DT_Q6_K;
    if (!strcmp(s, "q4_1")) return DT_Q4_1;
    if (!strcmp(s, "q5_0")) return DT_Q5_0;
    if (!strcmp(s, "q5_1")) return DT_Q5_1;
    if (!strcmp(s, "iq4_nl")) return DT_IQ4_NL;
    if (!strcmp(s, "q2_k")) return DT_Q2_K;
    if (!strcmp(s, "q3_k")) return DT_Q3_K;
    if (!strcmp(s, "q5_k")) return DT_Q5_K;
    if (!strcmp(s, "f16")) return DT_F16;
    if (!strcmp(s, "bf16")) return DT_BF16;
    if (!strcmp(s, "f32")) return DT_F32;
    return DT_COUNT;
}

/*
 * The int8 GEMM kernel alone, one thread: Y (n, rows) = X (n, cols) @ W^T in chunks of KERN__GEMM_ROWS rows as
 * matmul.c hands them out, X quantized (and widened, when the table says so) once beforehand. Best of `reps` runs
 * by thread CPU time; returns seconds per product, or -1 when the table has no GEMM.
 */
static double gemm_alone(const kern_weight_t *W, const float *X, int64_t n, float *Y, int reps) {
    const kern__isa_t *isa = kern__isa();
    if (!isa->gemm_q8 || !kern__gemm_type(W->type)) return -1;
    const int64_t K = W->cols, nb = K / 32;
    int8_t *qs = malloc((size_t)(n * K));
    uint8_t *xu = malloc((size_t)(n * K));
    int16_t *x16 = malloc(sizeof(int16_t) * (size_t)(n * K));
    float *d = malloc(sizeof(float) * (size_t)(n * nb));
    int32_t *sum = malloc(sizeof(int32_t) * (size_t)(n * nb)), *h = malloc(sizeof(int32_t) * (size_t)(n * nb));
    void *pack = aligned_alloc(64, (kern__gemm_pack_bytes(K) + 63) & ~(size_t)63);
    if (!qs || !xu || !x16 || !d || !sum || !h || !pack) return -1;
    for (int64_t j = 0; j < n; j++) {
        isa->quant_q8a(X + j * K, K, qs + j * K, d + j * nb, sum + j * nb, xu + j * K);
        if (isa->gemm_widen) isa->gemm_widen(qs + j * K, x16 + j * K, K);
        for (int64_t b = 0; b < nb; b++) {
            int32_t a = 0;
            for (int i = 0; i < 16; i++)
                a += qs[j * K + 32 * b + i];
            h[j * nb + b] = a;
        }
    }
    const kern__q8a_t xa = {qs, d, sum, K, xu, h, x16};
    double best = 1e9;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = thread_cpu_s();
        for (int64_t r0 = 0; r0 < W->rows; r0 += KERN__GEMM_ROWS) {
            const int64_t m = W->rows - r0 < KERN__GEMM_ROWS ? W->rows - r0 : KERN__GEMM_ROWS;
            isa->gemm_q8(W->type, (const uint8_t *)W->data + (size_t)r0 * W->row_bytes, W->row_bytes, m, &xa, n,
                         Y + r0, W->rows, pack);
        }
        const double dt = thread_cpu_s() - t0;
        best = dt < best ? dt : best;
    }
    free(qs);
    free(xu);
    free(x16);
    free(d);
    free(sum);
    free(h);
    free(pack);
    return best;
}

int main(int argc, char **argv) {
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    dtype_t type = DT_Q8_0;
    int64_t batches[8] = {1, 512};
    int n_batches = 2;
    bool model = false, hot = false, alone = false;
    int opt;
    while ((opt = getopt(argc, argv, "t:T:n:i:mck")) != -1) {
        switch (opt) {
        case 't': threads = atoi(optarg); break;
        case 'T': type = parse_type(optarg); break;
        case 'n': {
            n_batches = 0;
            for (char *tok = strtok(optarg, ","); tok && n_batches < 8; tok = strtok(NULL, ","))
                batches[n_batches++] = atoll(tok);
            break;
        }
        case 'i': kern__force_isa(!strcmp(optarg, "scalar") ? 0 : !strcmp(optarg, "avx2") ? 1 : 2); break;
        case 'm': model = true; break;
        case 'c': hot = true; break;
        case 'k': alone = true; break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-T type] [-n b1,b2] [-i isa] [-m] [-c] [-k]\n", argv[0]);
            return 2;
        }
    }
    if (type == DT_COUNT || threads < 1) return 2;
    if (model && dtype_block_elems(type) > 32) {
        fprintf(stderr, "-m needs a type with 32-value blocks (the model has 576 columns)\n");
        return 2;
    }
    printf("isa %s, %d threads, type %s\n", kern_isa_name(), threads, dtype_name(type));
    printf("memory read bandwidth (1 thread, 1 GiB dot): %.1f GB/s\n", bandwidth_gbs());

    kern_pool_t *pool;
    kern_ctx_t *k;
    int64_t max_batch = 1;
    for (int i = 0; i < n_batches; i++)
        max_batch = batches[i] > max_batch ? batches[i] : max_batch;
    if (kern_pool_create(threads, &pool) || kern_ctx_create(pool, 1536, 49152 + 16384, max_batch, &k)) return 1;
    {
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = now_s();
            for (int i = 0; i < 10000; i++)
                kern_pool_run(pool, empty_job, NULL);
            const double dt = (now_s() - t0) / 10000;
            best = dt < best ? dt : best;
        }
        printf("kern_pool_run of an empty job: %.2f us\n", best * 1e6);
    }
    float *X = malloc(sizeof(float) * (size_t)max_batch * 1536);
    float *Y = malloc(sizeof(float) * (size_t)max_batch * 49152);
    for (int64_t i = 0; i < max_batch * 1536; i++)
        X[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f;

    static const int64_t shapes[][2] = {{576, 576},   {192, 576},  {1536, 576}, {576, 1536},
                                        {49152, 576}, {4096, 576}, {16384, 576}};
    for (int bi = 0; bi < n_batches; bi++) {
        const int64_t n = batches[bi];
        printf("\nn = %lld\n%-12s %10s %10s %10s %12s%s\n", (long long)n, "W (rows x cols)", "us/call", "GFLOP/s", "GB/s(W)",
               "GFLOP/s(cpu)", alone ? "  kernel 1 thread GFLOP/s(cpu)" : "");
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            /* K-quants need whole 256-value blocks: 576 columns become 768 */
            const int64_t be = dtype_block_elems(type);
            const int64_t rows = shapes[si][0], cols = (shapes[si][1] + be - 1) / be * be;
            bweight_t bw;
            if (make(&bw, type, rows, cols, n == 1 && !hot ? (size_t)256 << 20 : 0)) return 1;
            const double flop = 2.0 * (double)n * (double)rows * (double)cols;
            int iters = (int)(2e9 / (flop + 1e6 * (double)n)) + 3;
            if (iters > 20000) iters = 20000;
            kern_matmul(k, &bw.copies[0], X, n, Y); /* warm up */
            double best = 1e9, best_cpu = 1e9, total = 0;
            int done = 0;
            for (int rep = 0; rep < 3; rep++) {
                const double t0 = now_s(), c0 = cpu_s();
                for (int it = 0; it < iters; it++)
                    kern_matmul(k, &bw.copies[(rep * iters + it) % bw.n_copies], X, n, Y);
                const double dt = (now_s() - t0) / iters, dc = (cpu_s() - c0) / iters / threads;
                best = dt < best ? dt : best;
                best_cpu = dc < best_cpu ? dc : best_cpu;
                total += dt * iters;
                done += iters;
            }
            (void)total;
            (void)done;
            const double bytes = (double)bw.copies[0].row_bytes * (double)rows;
            char name[32];
            snprintf(name, sizeof name, "%lldx%lld", (long long)rows, (long long)cols);
            printf("%-15s %10.1f %10.1f %10.2f %12.1f", name, best * 1e6, flop / best / 1e9, bytes / best / 1e9,
                   flop / best_cpu / 1e9);
            const double ka = alone ? gemm_alone(&bw.copies[0], X, n, Y, (int)(4e9 / flop) + 5) : -1;
            if (ka > 0) printf("  %10.1f", flop / ka / 1e9);
            printf("\n");
            free(bw.mem);
            free(bw.copies);
        }
    }

    if (model) {
        /* the matmuls of one forward pass of SmolLM-135M: 30 x (q, k, v, o, gate, up, down) + LM head */
        const int n_layer = 30;
        kern_weight_t *ws = calloc((size_t)n_layer * 7 + 1, sizeof *ws);
        static const int64_t lshape[7][2] = {{576, 576},  {192, 576},  {192, 576}, {576, 576},
                                             {1536, 576}, {1536, 576}, {576, 1536}};
        size_t total = 0;
        for (int l = 0; l <= n_layer; l++)
            for (int i = 0; i < (l < n_layer ? 7 : 1); i++) {
                const int64_t rows = l < n_layer ? lshape[i][0] : 49152, cols = l < n_layer ? lshape[i][1] : 576;
                const size_t rb = (size_t)dtype_row_bytes(type, cols);
                uint8_t *mem = malloc(rb * (size_t)rows);
                if (!mem) return 1;
                fill(type, mem, rows, cols);
                ws[l * 7 + i] = (kern_weight_t){type, rows, cols, mem, rb};
                total += rb * (size_t)rows;
            }
        float *X2 = malloc(sizeof(float) * (size_t)max_batch * 1536);
        for (int64_t i = 0; i < max_batch * 1536; i++)
            X2[i] = X[i];
        for (int bi = 0; bi < n_batches; bi++) {
            const int64_t n = batches[bi];
            double best = 1e9;
            for (int rep = 0; rep < (n == 1 ? 20 : 3); rep++) {
                const double t0 = now_s();
                for (int l = 0; l < n_layer; l++) {
                    const kern_weight_t *L = &ws[l * 7];
                    const kern_weight_t *qkv[3] = {&L[0], &L[1], &L[2]};
                    float *ys[3] = {Y, Y, Y};
                    kern_matmul_multi(k, qkv, 3, X, n, ys);
                    kern_matmul(k, &L[3], X, n, Y);
                    const kern_weight_t *gu[2] = {&L[4], &L[5]};
                    float *ys2[2] = {Y, Y};
                    kern_matmul_multi(k, gu, 2, X, n, ys2);
                    kern_matmul(k, &L[6], X2, n, Y);
                }
                kern_matmul(k, &ws[n_layer * 7], X, 1, Y); /* logits of the last token only */
                const double dt = now_s() - t0;
                best = dt < best ? dt : best;
            }
            printf("\nmodel matmuls, n = %lld: %.2f ms per pass = %.1f tok/s (weights %.1f MB, %.1f GB/s)\n",
                   (long long)n, best * 1e3, (double)n / best, (double)total / 1e6, (double)total / best / 1e9);
        }
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
    return 0;
}
