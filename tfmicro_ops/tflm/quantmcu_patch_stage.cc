// TFLM kernel of QMCU_PATCH_STAGE: a thin adapter around the portable C patch loop.
//
// Init parses the binary plan where it lies in the FlexBuffer custom options when it is
// 4-byte aligned there (quantmcu writes it so: the model's bytes, usually in flash, are read
// in place and the arena keeps only OpData), and otherwise copies it into a persistent,
// 4-byte-aligned buffer first; Prepare checks the op's tensors against the plan and
// requests the plan's scratch buffer in the arena; Eval runs the C patch loop. The plan format
// is ../PLAN.md.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flatbuffers/flexbuffers.h"
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_common.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"

#include "../qmcu_patch_stage.h"
#include "../qmcu_plan.h"
#include "quantmcu_ops.h"

namespace quantmcu {

const char kPatchStageOpName[] = "QMCU_PATCH_STAGE";

namespace {

constexpr int kMaxInputs = 3 * QMCU_MAX_LAYERS + 1;
constexpr size_t kMessageBytes = 128;

// Per-node state, in the persistent arena.
struct OpData {
  qmcu_plan plan;        // points into words
  const int32_t* words;  // the plan: in the model, or an aligned copy in the arena
  int scratch_index;  // -1 when the plan needs no scratch
  PatchStageStats stats;
};

void* Init(TfLiteContext* context, const char* buffer, size_t length) {
  if (buffer == nullptr || length == 0) {
    MicroPrintf("%s: no custom options", kPatchStageOpName);
    return nullptr;
  }
  const uint8_t* options = reinterpret_cast<const uint8_t*>(buffer);
  // The options come from the model file: verify the FlexBuffer before reading it (alignment
  // is not required: an unaligned plan blob is copied).
  flexbuffers::Verifier verifier(options, length, nullptr, /*_check_alignment=*/false);
  if (!verifier.VerifyBuffer()) {
    MicroPrintf("%s: custom options are not a valid FlexBuffer", kPatchStageOpName);
    return nullptr;
  }
  const flexbuffers::Reference root = flexbuffers::GetRoot(options, length);
  if (!root.IsMap()) {
    MicroPrintf("%s: custom options are not a FlexBuffer map", kPatchStageOpName);
    return nullptr;
  }
  const flexbuffers::Map map = root.AsMap();
  const flexbuffers::Reference format = map["format"];
  const flexbuffers::Reference version = map["version"];
  const flexbuffers::Reference blob = map["plan"];
  if (!format.IsString() || strcmp(format.AsString().c_str(), "qmcu_patch_stage") != 0) {
    MicroPrintf("%s: custom options lack format \"qmcu_patch_stage\"", kPatchStageOpName);
    return nullptr;
  }
  if (!version.IsIntOrUint() || version.AsInt64() < QMCU_PLAN_VERSION_MIN ||
      version.AsInt64() > QMCU_PLAN_VERSION) {
    MicroPrintf("%s: plan version %d, this kernel reads versions %d..%d", kPatchStageOpName,
                static_cast<int>(version.AsInt64()), static_cast<int>(QMCU_PLAN_VERSION_MIN),
                static_cast<int>(QMCU_PLAN_VERSION));
    return nullptr;
  }
  if (!blob.IsBlob() || blob.AsBlob().size() == 0 || blob.AsBlob().size() % 4 != 0) {
    MicroPrintf("%s: custom options lack a plan blob of whole words", kPatchStageOpName);
    return nullptr;
  }
  const flexbuffers::Blob plan = blob.AsBlob();
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  OpData* data = static_cast<OpData*>(micro_context->AllocatePersistentBuffer(sizeof(OpData)));
  if (data == nullptr) {
    MicroPrintf("%s: arena too small for the op data", kPatchStageOpName);
    return nullptr;
  }
  // The plan's words are little-endian, as are the targets TFLM runs on. Persistent buffers
  // are aligned for any type.
  const int32_t* words = reinterpret_cast<const int32_t*>(plan.data());
  if (reinterpret_cast<uintptr_t>(plan.data()) % alignof(int32_t) != 0) {
    int32_t* copy = static_cast<int32_t*>(micro_context->AllocatePersistentBuffer(plan.size()));
    if (copy == nullptr) {
      MicroPrintf("%s: arena too small for the plan (%d bytes)", kPatchStageOpName,
                  static_cast<int>(plan.size()));
      return nullptr;
    }
    memcpy(copy, plan.data(), plan.size());
    words = copy;
  }
  data->words = words;
  data->scratch_index = -1;
  data->stats = PatchStageStats{0, 0, 0};
  char message[kMessageBytes];
  if (qmcu_plan_parse(&data->plan, words, plan.size() / 4, message, sizeof message) != QMCU_OK) {
    MicroPrintf("%s: %s", kPatchStageOpName, message);
    return nullptr;
  }
  return data;
}

// Checks that tensor t is a batch-1 int8 feature map of h x w x c in the given layout with the
// given zero point, or (is_float) a float32 tensor of that shape.
bool IsFeatureMap(const TfLiteTensor* t, const int32_t* fm, bool nchw, bool is_float = false) {
  if (t->type != (is_float ? kTfLiteFloat32 : kTfLiteInt8) || t->dims == nullptr || t->dims->size != 4)
    return false;
  const int* d = t->dims->data;
  const int32_t h = fm[QMCU_FM_H], w = fm[QMCU_FM_W], c = fm[QMCU_FM_C];
  const bool shape_ok = nchw ? (d[0] == 1 && d[1] == c && d[2] == h && d[3] == w)
                             : (d[0] == 1 && d[1] == h && d[2] == w && d[3] == c);
  return shape_ok && (is_float || t->params.zero_point == fm[QMCU_FM_ZP]);
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  OpData* data = static_cast<OpData*>(node->user_data);
  TF_LITE_ENSURE_MSG(context, data != nullptr, "QMCU_PATCH_STAGE: no valid plan (see Init)");
  const qmcu_plan* plan = &data->plan;
  TF_LITE_ENSURE_EQ(context, node->inputs->size, plan->n_inputs);
  TF_LITE_ENSURE_EQ(context, node->outputs->size, 1);
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);

  for (int i = 0; i < node->inputs->size; i++) {
    int32_t type = QMCU_TYPE_NONE, bytes = 0;
    qmcu_plan_input_spec(plan, i, &type, &bytes);
    TfLiteTensor* t = micro_context->AllocateTempInputTensor(node, i);
    TF_LITE_ENSURE(context, t != nullptr);
    const TfLiteType want = type == QMCU_TYPE_INT32     ? kTfLiteInt32
                            : type == QMCU_TYPE_FLOAT32 ? kTfLiteFloat32
                                                        : kTfLiteInt8;
    bool ok = t->bytes == static_cast<size_t>(bytes) && t->type == want;
    if (i == 0)
      ok = ok && IsFeatureMap(t, qmcu_plan_fm(plan, 0), plan->layout == QMCU_LAYOUT_NCHW,
                              type == QMCU_TYPE_FLOAT32);
    micro_context->DeallocateTempTfLiteTensor(t);
    if (!ok) {
      MicroPrintf("%s: input %d does not match the plan (%s of %d bytes)", kPatchStageOpName, i,
                  TfLiteTypeGetName(want), static_cast<int>(bytes));
      return kTfLiteError;
    }
  }

  TfLiteTensor* output = micro_context->AllocateTempOutputTensor(node, 0);
  TF_LITE_ENSURE(context, output != nullptr);
  const bool output_ok =
      IsFeatureMap(output, qmcu_plan_fm(plan, plan->n_fms - 1), /*nchw=*/false) &&
      output->bytes == static_cast<size_t>(qmcu_plan_fm_bytes(plan, plan->n_fms - 1));
  micro_context->DeallocateTempTfLiteTensor(output);
  if (!output_ok) {
    MicroPrintf("%s: output does not match the plan", kPatchStageOpName);
    return kTfLiteError;
  }

  if (plan->scratch_bytes > 0) {
    TF_LITE_ENSURE_STATUS(micro_context->RequestScratchBufferInArena(
        static_cast<size_t>(plan->scratch_bytes), &data->scratch_index));
  }
  return kTfLiteOk;
}

TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) {
  OpData* data = static_cast<OpData*>(node->user_data);
  const qmcu_plan* plan = &data->plan;
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  const void* inputs[kMaxInputs];
  for (int i = 0; i < plan->n_inputs; i++) {
    const TfLiteEvalTensor* t = micro_context->GetEvalTensor(node->inputs->data[i]);
    TF_LITE_ENSURE(context, t != nullptr && t->data.data != nullptr);
    inputs[i] = t->data.data;
  }
  TfLiteEvalTensor* output = micro_context->GetEvalTensor(node->outputs->data[0]);
  TF_LITE_ENSURE(context, output != nullptr && output->data.data != nullptr);
  void* scratch = nullptr;
  if (data->scratch_index >= 0) {
    scratch = micro_context->GetScratchBuffer(data->scratch_index);
    TF_LITE_ENSURE(context, scratch != nullptr);
  }
  // Sizes were checked in Prepare.
  char message[kMessageBytes];
  qmcu_stats stats;
  int32_t input_type = QMCU_TYPE_NONE, input_bytes = 0;
  qmcu_plan_input_spec(plan, 0, &input_type, &input_bytes);
  const int rc = qmcu_patch_stage_eval(
      plan, inputs[0], static_cast<size_t>(input_bytes), inputs,
      /*const_bytes=*/nullptr, plan->n_inputs, output->data.data,
      static_cast<size_t>(qmcu_plan_fm_bytes(plan, plan->n_fms - 1)), scratch,
      static_cast<size_t>(plan->scratch_bytes), &stats, message, sizeof message);
  if (rc != QMCU_OK) {
    MicroPrintf("%s: %s", kPatchStageOpName, message);
    return kTfLiteError;
  }
  data->stats.invocations++;
  data->stats.tiles += static_cast<uint32_t>(stats.tiles);
  data->stats.outlier_tiles += static_cast<uint32_t>(stats.outlier_tiles);
  return kTfLiteOk;
}

// Filled by hand: tflite::micro::RegisterOp is not visible outside the TFLM repository.
// AddCustom sets builtin_code and custom_name.
const TFLMRegistration kPatchStageRegistration = {
    /*init=*/Init,
    /*free=*/nullptr,
    /*prepare=*/Prepare,
    /*invoke=*/Eval,
    /*reset=*/nullptr,
    /*builtin_code=*/0,
    /*custom_name=*/nullptr,
};

}  // namespace

const TFLMRegistration* Register_QMCU_PATCH_STAGE() { return &kPatchStageRegistration; }

bool GetPatchStageStats(const TfLiteNode* node, const TFLMRegistration* registration,
                        PatchStageStats* stats) {
  if (node == nullptr || stats == nullptr || node->user_data == nullptr || registration == nullptr ||
      registration->invoke != kPatchStageRegistration.invoke) {
    return false;
  }
  *stats = static_cast<const OpData*>(node->user_data)->stats;
  return true;
}

}  // namespace quantmcu
