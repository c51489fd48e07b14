// The array a quantmcu_model target embeds: declared length, 16-byte alignment, and the same
// bytes as the optimized .tflite the rule also outputs (argv[1]).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include MODEL_HEADER

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.tflite\n", argv[0]);
    return 2;
  }
  std::FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  std::vector<unsigned char> file;
  unsigned char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) file.insert(file.end(), buf, buf + n);
  std::fclose(f);

  int failures = 0;
  if (MODEL_SIZE != file.size() || MODEL_SIZE_MACRO != file.size()) {
    std::fprintf(stderr, "length %u (macro %u), file %zu bytes\n", MODEL_SIZE,
                 static_cast<unsigned>(MODEL_SIZE_MACRO), file.size());
    failures++;
  } else if (std::memcmp(MODEL_DATA, file.data(), file.size()) != 0) {
    std::fprintf(stderr, "array differs from %s\n", argv[1]);
    failures++;
  }
  if (reinterpret_cast<std::uintptr_t>(MODEL_DATA) % 16 != 0) {
    std::fprintf(stderr, "array is not 16-byte aligned\n");
    failures++;
  }
  // A TFLite flatbuffer: file identifier "TFL3" at offset 4.
  if (file.size() < 8 || std::memcmp(MODEL_DATA + 4, "TFL3", 4) != 0) {
    std::fprintf(stderr, "array is not a TFLite model\n");
    failures++;
  }
  if (failures == 0) std::printf("ok: %u bytes, aligned, equal to %s\n", MODEL_SIZE, argv[1]);
  return failures == 0 ? 0 : 1;
}
