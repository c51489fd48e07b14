/* TEST DOUBLE: quantmcu's stand-in for the @tflite_micro labels (bazel/testing/tflite_micro_test_double).
 * It is not TensorFlow Lite Micro and cannot compile TFLM code. */
#error "@tflite_micro is bound to quantmcu's TEST DOUBLE (bazel/testing/tflite_micro_test_double), not TensorFlow Lite Micro: build with --override_repository=tflite_micro=/path/to/tflite-micro (Bazel 8: --override_module=tflm=/path/to/tflite-micro)"
