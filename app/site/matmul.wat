;; matmul.wat: C = A @ B for float32 matrices, in WebAssembly SIMD, for the lab's linear layers
;; in the browser (app/site/simd.py loads it; engine/kernels.py's `linear_by` calls it).
;;
;; Pyodide's NumPy has no BLAS: its best matrix product (an einsum) reaches about 5 GFLOP/s.
;; This kernel computes C four rows by eight columns at a time, keeping the 4 x 8 block of C
;; in eight 4-lane registers while it walks down K: per step of K, two loads of B's row, four
;; of A's numbers (each splat across a register) and sixteen 4-lane multiply-adds.
;; What is left over at the edges (rows past the last multiple of 4, columns past the last
;; multiple of 8) is computed one number at a time.
;;
;; It works in place on NumPy's arrays: it imports the memory of the Python that calls it
;; (Pyodide's), so its arguments are the arrays' addresses (`arr.ctypes.data`) and strides
;; in bytes. B's and C's rows must be contiguous (a column stride of 4); A may have any
;; strides, so a transposed A costs no copy.
;;
;; Assembled with wat2wasm of the npm package wabt 1.0.39 (tests/support/wasm.py):
;;     wat2wasm app/site/matmul.wat -o app/site/matmul.wasm
;; and tests/app/test_simd.py checks that the committed matmul.wasm is exactly that.
(module
  (import "env" "memory" (memory 0))

  ;; C[0:4, 0:8] = A[0:4, 0:K] @ B[0:K, 0:8], with A, B, C the addresses of those corners.
  (func $block_4x8 (param $a i32) (param $b i32) (param $c i32) (param $K i32)
                   (param $a_row i32) (param $a_col i32) (param $b_row i32) (param $c_row i32)
    (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $a1 (i32.add (local.get $a) (local.get $a_row)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $a_row)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $a_row)))
    (block $done
      (loop $next_k
        (br_if $done (i32.eqz (local.get $K)))
        (local.set $b0 (v128.load (local.get $b)))  ;; B[k, 0:4]
        (local.set $b1 (v128.load offset=16 (local.get $b)))  ;; B[k, 4:8]
        (local.set $x (v128.load32_splat (local.get $a)))  ;; A[0, k] in every lane
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat (local.get $a1)))  ;; A[1, k]
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat (local.get $a2)))  ;; A[2, k]
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat (local.get $a3)))  ;; A[3, k]
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (local.get $a_col)))  ;; on to k + 1
        (local.set $a1 (i32.add (local.get $a1) (local.get $a_col)))
        (local.set $a2 (i32.add (local.get $a2) (local.get $a_col)))
        (local.set $a3 (i32.add (local.get $a3) (local.get $a_col)))
        (local.set $b (i32.add (local.get $b) (local.get $b_row)))
        (local.set $K (i32.sub (local.get $K) (i32.const 1)))
        (br $next_k)))
    (v128.store (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01))
    (local.set $c (i32.add (local.get $c) (local.get $c_row)))
    (v128.store (local.get $c) (local.get $c10))
    (v128.store offset=16 (local.get $c) (local.get $c11))
    (local.set $c (i32.add (local.get $c) (local.get $c_row)))
    (v128.store (local.get $c) (local.get $c20))
    (v128.store offset=16 (local.get $c) (local.get $c21))
    (local.set $c (i32.add (local.get $c) (local.get $c_row)))
    (v128.store (local.get $c) (local.get $c30))
    (v128.store offset=16 (local.get $c) (local.get $c31)))

  ;; A[i, 0:K] . B[0:K, j], with A and B the addresses of A[i, 0] and B[0, j].
  (func $dot (param $a i32) (param $b i32) (param $K i32) (param $a_col i32) (param $b_row i32)
             (result f32)
    (local $sum f32)
    (block $done
      (loop $next_k
        (br_if $done (i32.eqz (local.get $K)))
        (local.set $sum (f32.add (local.get $sum)
                                 (f32.mul (f32.load (local.get $a)) (f32.load (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (local.get $a_col)))
        (local.set $b (i32.add (local.get $b) (local.get $b_row)))
        (local.set $K (i32.sub (local.get $K) (i32.const 1)))
        (br $next_k)))
    (local.get $sum))

  ;; C (M x N) = A (M x K) @ B (K x N). Addresses and strides in bytes: A[i, k] is at
  ;; a + i * a_row + k * a_col, B[k, j] at b + k * b_row + 4 j, C[i, j] at c + i * c_row + 4 j.
  (func (export "matmul") (param $a i32) (param $b i32) (param $c i32)
                          (param $M i32) (param $N i32) (param $K i32)
                          (param $a_row i32) (param $a_col i32) (param $b_row i32)
                          (param $c_row i32)
    (local $i i32) (local $j i32) (local $M4 i32) (local $N8 i32)
    (local.set $M4 (i32.and (local.get $M) (i32.const -4)))  ;; rows in whole blocks
    (local.set $N8 (i32.and (local.get $N) (i32.const -8)))  ;; columns in whole blocks
    (block $blocks_done
      (loop $next_rows
        (br_if $blocks_done (i32.ge_u (local.get $i) (local.get $M4)))
        (local.set $j (i32.const 0))
        (block $row_done
          (loop $next_columns
            (br_if $row_done (i32.ge_u (local.get $j) (local.get $N8)))
            (call $block_4x8
              (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $a_row)))
              (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
              (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $c_row)))
                       (i32.shl (local.get $j) (i32.const 2)))
              (local.get $K) (local.get $a_row) (local.get $a_col) (local.get $b_row)
              (local.get $c_row))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $next_columns)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next_rows)))
    ;; the edges: in rows of whole blocks, the columns from N8 on; below them, every column
    (local.set $i (i32.const 0))
    (block $edges_done
      (loop $next_row
        (br_if $edges_done (i32.ge_u (local.get $i) (local.get $M)))
        (local.set $j (select (local.get $N8) (i32.const 0)
                              (i32.lt_u (local.get $i) (local.get $M4))))
        (block $row_done
          (loop $next_column
            (br_if $row_done (i32.ge_u (local.get $j) (local.get $N)))
            (f32.store
              (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $c_row)))
                       (i32.shl (local.get $j) (i32.const 2)))
              (call $dot (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $a_row)))
                         (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
                         (local.get $K) (local.get $a_col) (local.get $b_row)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $next_column)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next_row)))))
