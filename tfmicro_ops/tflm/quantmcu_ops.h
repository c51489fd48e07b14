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

// What one QMCU_PATCH_STAGE node did since the interpreter was set up: invocations, tiles run,
// and outlier tiles (tiles whose checked feature map held a code outside the plan's thresholds,
// so they ran the int8 branch; 0 for plans without a low branch). Counters wrap at 2^32.
struct PatchStageStats {
  uint32_t invocations;
  uint32_t tiles;
  uint32_t outlier_tiles;
};

// Reads the counters of a node, e.g. from
//   tflite::NodeAndRegistration nr = interpreter.node_and_registration(i);
//   quantmcu::GetPatchStageStats(&nr.node, nr.registration, &stats);
// Returns false when the node is not a prepared QMCU_PATCH_STAGE node.
bool GetPatchStageStats(const TfLiteNode* node, const TFLMRegistration* registration,
                        PatchStageStats* stats);

// Adds every quantmcu operator to the resolver (one slot each; currently one).
template <unsigned int N>
TfLiteStatus AddQuantMcuOps(tflite::MicroMutableOpResolver<N>& resolver) {
  return resolver.AddCustom(kPatchStageOpName, Register_QMCU_PATCH_STAGE());
}

}  // namespace quantmcu

#endif  // QUANTMCU_TFMICRO_OPS_TFLM_QUANTMCU_OPS_H_
