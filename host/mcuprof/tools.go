// Package mcuprof measures QMCU_PATCH_STAGE plans on emulated Cortex-M boards: it cross-compiles
// the portable kernels with a plan for QEMU's mps2 boards, counts the executed instructions
// between two marker calls with a TCG plugin of its own (qemuplugin/), and estimates Cortex-M4
// cycles from the per-address histogram with a static cost table (costm4.go).
package mcuprof

import (
	"context"
	"debug/elf"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed qemuplugin/qmcu_icount.c qemuplugin/qemu_plugin_min.h
var pluginSources embed.FS

// Target is a Cortex-M core with the QEMU board that emulates it.
type Target struct {
	Name  string   // cortex-m4, cortex-m7
	Board string   // QEMU machine
	Flags []string // compiler flags selecting the core
	PSRAM uint64   // base of the board's 16 MiB PSRAM (where images keep their tensors)
}

// Targets are the cores the profiler knows.
var Targets = map[string]Target{
	"cortex-m4": {Name: "cortex-m4", Board: "mps2-an386", Flags: []string{"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"}, PSRAM: 0x21000000},
	"cortex-m7": {Name: "cortex-m7", Board: "mps2-an500", Flags: []string{"-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"}, PSRAM: 0x60000000},
}

// ErrNoToolchain reports a missing program; its message says what to install.
var ErrNoToolchain = errors.New("Cortex-M profiling needs arm-none-eabi-gcc, arm-none-eabi-objdump, qemu-system-arm (with TCG plugin support) and a host C compiler: " +
	"on Debian/Ubuntu `apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc`")

// Tools are the programs the profiler runs.
type Tools struct {
	GCC, Objdump, QEMU, HostCC string
}

// FindTools looks the programs up on PATH; the error wraps ErrNoToolchain and names the
// missing one.
func FindTools() (Tools, error) {
	var t Tools
	var missing []string
	look := func(dst *string, names ...string) {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				*dst = p
				return
			}
		}
		missing = append(missing, names[0])
	}
	look(&t.GCC, "arm-none-eabi-gcc")
	look(&t.Objdump, "arm-none-eabi-objdump")
	look(&t.QEMU, "qemu-system-arm")
	look(&t.HostCC, "cc", "gcc", "clang")
	if len(missing) > 0 {
		return t, fmt.Errorf("%s not found: %w", strings.Join(missing, ", "), ErrNoToolchain)
	}
	return t, nil
}

// BuildPlugin compiles the instruction-counting plugin into dir and returns its path.
func (t Tools) BuildPlugin(dir string) (string, error) {
	for _, name := range []string{"qmcu_icount.c", "qemu_plugin_min.h"} {
		src, err := pluginSources.ReadFile("qemuplugin/" + name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
			return "", err
		}
	}
	so := filepath.Join(dir, "qmcu_icount.so")
	cmd := exec.Command(t.HostCC, "-std=c99", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-o", so, "qmcu_icount.c")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the QEMU plugin: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return so, nil
}

// Marker functions of a profiled image: each call of BeginMarker opens a segment, each call of
// EndMarker closes it.
const (
	BeginMarker = "qmcu_profile_begin"
	EndMarker   = "qmcu_profile_end"
)

// Run executes elf on the target's board under the plugin and returns the guest's console
// output and the histograms of its segments. A guest that exits non-zero is an error.
func (t Tools) Run(ctx context.Context, plugin, elfPath string, target Target, timeout time.Duration) (string, []Histogram, error) {
	syms, err := Symbols(elfPath)
	if err != nil {
		return "", nil, err
	}
	var begin, end uint64
	for _, s := range syms {
		switch s.Name {
		case BeginMarker:
			begin = s.Lo
		case EndMarker:
			end = s.Lo
		}
	}
	if begin == 0 || end == 0 {
		return "", nil, fmt.Errorf("%s: no %s/%s marker functions", elfPath, BeginMarker, EndMarker)
	}
	hist := elfPath + ".hist"
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.QEMU, "-M", target.Board, "-nographic", "-monitor", "none", "-serial", "none",
		"-semihosting-config", "enable=on,target=native",
		"-plugin", fmt.Sprintf("%s,begin=%#x,end=%#x,out=%s", plugin, begin, end, hist), "-kernel", elfPath)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), nil, fmt.Errorf("qemu %s: no exit within %v", target.Board, timeout)
	}
	if err != nil {
		return string(out), nil, fmt.Errorf("qemu %s: %v: %s", target.Board, err, strings.TrimSpace(string(out)))
	}
	f, err := os.Open(hist)
	if err != nil {
		return string(out), nil, fmt.Errorf("qemu wrote no histogram: %w", err)
	}
	defer f.Close()
	segs, err := ParseHistograms(f)
	return string(out), segs, err
}

// Symbol is a function of an image: [Lo, Hi) in code addresses (Thumb bit cleared).
type Symbol struct {
	Name   string
	Lo, Hi uint64
}

// Symbols lists the function symbols of an ELF image, local ones included.
func Symbols(elfPath string) ([]Symbol, error) {
	f, err := elf.Open(elfPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", elfPath, err)
	}
	var out []Symbol
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 && s.Size == 0 {
			continue
		}
		lo := s.Value &^ 1
		out = append(out, Symbol{Name: s.Name, Lo: lo, Hi: lo + s.Size})
	}
	return out, nil
}
