/* TEST DOUBLE, not TFLM: see bazel/testing/tflite_micro_test_double/README.md. */
#include "tensorflow/lite/micro/not_tflm.h"
