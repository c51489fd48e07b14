package interp

import "github.com/quantmcu/quantmcu/tflite/interp/internal/libm"

// expf, expm1f, logf and tanhf are the C library's, as TFLM's float kernels use them (see package libm).
func expf(x float32) float32 { return libm.Expf(x) }

func tanhf(x float32) float32 { return libm.Tanhf(x) }

func expm1f(x float32) float32 { return libm.Expm1f(x) }

func logf(x float32) float32 { return libm.Logf(x) }
