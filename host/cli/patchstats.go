package cli

import (
	"fmt"
	"io"

	"github.com/quantmcu/quantmcu/tflite/interp"
)

// printPatchStats prints, for every QMCU_PATCH_STAGE operator the interpreter ran, how many
// tiles were outlier tiles (ran the int8 branch) on the data it ran: QuantMCU's thresholds
// are calibrated, and the rate seen on real inputs is what decides the BitOPs saved.
func printPatchStats(w io.Writer, prefix string, it *interp.Interpreter) {
	for _, s := range it.PatchStageStats() {
		if !s.LowBranch {
			fmt.Fprintf(w, "%sQMCU_PATCH_STAGE op %d: int8 only, %d tiles over %d inference(s)\n", prefix, s.Op, s.Tiles, s.Invocations)
			continue
		}
		fmt.Fprintf(w, "%sQMCU_PATCH_STAGE op %d: outlier tiles %d of %d (%.1f%%) over %d inference(s); the others ran the low-bit branch\n",
			prefix, s.Op, s.OutlierTiles, s.Tiles, 100*s.OutlierRate(), s.Invocations)
	}
}
