# CMake toolchain file for bare-metal Arm Cortex-M with the GNU Arm toolchain (arm-none-eabi-gcc).
#   cmake -S tfmicro_ops -B build-m4 -DCMAKE_TOOLCHAIN_FILE=tfmicro_ops/cmake/arm-none-eabi.cmake
# The CPU defaults to a Cortex-M4 with FPU; set QUANTMCU_ARM_FLAGS for another core, e.g.
#   -DQUANTMCU_ARM_FLAGS="-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard"
#   -DQUANTMCU_ARM_FLAGS="-mcpu=cortex-m0plus -mthumb"
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(QUANTMCU_ARM_PREFIX "arm-none-eabi-" CACHE STRING "Prefix of the cross tools")
set(CMAKE_C_COMPILER "${QUANTMCU_ARM_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${QUANTMCU_ARM_PREFIX}g++")
set(CMAKE_ASM_COMPILER "${QUANTMCU_ARM_PREFIX}gcc")
# No board support here: compiler checks build a static library instead of linking a program.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(QUANTMCU_ARM_FLAGS "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard"
    CACHE STRING "Target CPU flags for every C/C++ compilation")
set(CMAKE_C_FLAGS_INIT "${QUANTMCU_ARM_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${QUANTMCU_ARM_FLAGS}")
set(CMAKE_ASM_FLAGS_INIT "${QUANTMCU_ARM_FLAGS}")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
