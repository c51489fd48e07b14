// Package libm exposes the C library's single-precision exp and tanh. TFLM's float
// kernels call them (std::exp and std::tanh on floats are expf and tanhf), and they are not
// always correctly rounded: Go's float64 math rounded to float32 differs in the last bit
// for a few inputs. Calling the same C functions makes float outputs match TFLM built on
// this C library. (A separate package because interp holds Go assembly, which cgo
// packages cannot.)
package libm

/*
#cgo LDFLAGS: -lm
#include <math.h>
static float qmcu_expf(float x) { return expf(x); }
static float qmcu_tanhf(float x) { return tanhf(x); }
static float qmcu_expm1f(float x) { return expm1f(x); }
static float qmcu_logf(float x) { return logf(x); }
*/
import "C"

// Expf is C's expf.
func Expf(x float32) float32 { return float32(C.qmcu_expf(C.float(x))) }

// Tanhf is C's tanhf.
func Tanhf(x float32) float32 { return float32(C.qmcu_tanhf(C.float(x))) }

// Expm1f is C's expm1f.
func Expm1f(x float32) float32 { return float32(C.qmcu_expm1f(C.float(x))) }

// Logf is C's logf.
func Logf(x float32) float32 { return float32(C.qmcu_logf(C.float(x))) }
