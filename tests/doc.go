// Package tests holds quantmcu's end-to-end tests: whole rewrites of real and random models
// executed and compared byte for byte with TFLM's reference outputs and with per-layer
// execution. It has no non-test code.
package tests
