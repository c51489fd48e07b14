// TFLM registration of quantmcu's custom operators.
//
// A model rewritten by `quantmcu optimize` contains CUSTOM ops "QMCU_PATCH_STAGE". Register them
// next to the builtin ops the model uses, or TFLM fails at load with "Failed to get registration
// from op code CUSTOM":
//
//   tflite::MicroMutableOpResolver<8> resolver;   // one slot more for QMCU_PATCH_STAGE
//   resolver.AddConv2D();  ...
//   quantmcu::AddQuantMcuOps(resolver);
#ifndef QUANTMCU_TFMICRO_OPS_TFLM_QUANTMCU_OPS_H_
#define QUANTMCU_TFMICRO_OPS_TFLM_QUANTMCU_OPS_H_

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace quantmcu {

// The custom_code of the patch-stage operator.
extern const char kPatchStageOpName[];  // "QMCU_PATCH_STAGE"

// The kernel of QMCU_PATCH_STAGE (init, prepare, invoke filled in; static storage).
const TFLMRegistration* Register_QMCU_PATCH_STAGE();

// Adds every quantmcu operator to the resolver (one slot each; currently one).
template <unsigned int N>
TfLiteStatus AddQuantMcuOps(tflite::MicroMutableOpResolver<N>& resolver) {
  return resolver.AddCustom(kPatchStageOpName, Register_QMCU_PATCH_STAGE());
}

}  // namespace quantmcu

#endif  // QUANTMCU_TFMICRO_OPS_TFLM_QUANTMCU_OPS_H_
