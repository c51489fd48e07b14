package tfmicroops

import "embed"

// Sources holds the portable C kernels (qmcu_*.c, qmcu_*.h) and the bare-metal start-up code
// of the emulated-MCU tests (testdata/mcu/startup.c), for builds outside cgo such as
// cross-compiled Cortex-M images.
//
//go:embed qmcu_*.c qmcu_*.h testdata/mcu/startup.c
var Sources embed.FS
