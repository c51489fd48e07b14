package tfmicroops

import (
	"math/rand/v2"
	"os/exec"
	"testing"
)

// RunPortable is Stage.Run with the portable C loops only (no host SIMD), for comparing the two.
func (s *Stage) RunPortable(input, output []byte, scratch [][]byte) (Stats, error) {
	return s.run(input, output, scratch, runPortable)
}

// RunPlanOnQEMU runs a plan with the kernels cross-compiled for Cortex-M4 on QEMU and fails
// unless the output is want (cross_test.go).
var RunPlanOnQEMU = runPlanOnQEMU

// TryPlan parses hostile plan bytes and, when they parse, runs them (FuzzParsePlan's body).
var TryPlan = tryPlan

// PlanSeeds are generated version-1 plans: the sample plan and random stacks.
func PlanSeeds(tb testing.TB) [][]byte {
	_, plan, _ := samplePlan(tb)
	seeds := [][]byte{plan}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 4 {
		p, _ := randomStage(rng).plan(2, 3)
		seeds = append(seeds, p)
	}
	return seeds
}

// ArmTools returns the Cortex-M cross compiler and QEMU, or skips the test without them.
func ArmTools(t *testing.T) (gcc, qemu string) {
	t.Helper()
	gcc, err := exec.LookPath("arm-none-eabi-gcc")
	if err != nil {
		t.Skip("arm-none-eabi-gcc not on PATH")
	}
	if qemu, err = exec.LookPath("qemu-system-arm"); err != nil {
		t.Skip("qemu-system-arm not on PATH")
	}
	return gcc, qemu
}
