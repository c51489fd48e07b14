package calibrate

import (
	"fmt"
	"strings"

	"github.com/quantmcu/quantmcu/tflite/tensorio"
)

// FileSet is calibration data as files (images, .npy, .raw), preprocessed as `quantmcu eval`
// does. It travels to the rewriter plugin as JSON.
type FileSet struct {
	Files []string              `json:"files"`
	Image tensorio.ImageOptions `json:"image"`
}

// Source returns the files as a Source for a model whose input 0 is spec.
func (f *FileSet) Source(spec tensorio.Spec) Source {
	return &fileSource{files: f.Files, spec: spec, opts: f.Image}
}

type fileSource struct {
	files []string
	spec  tensorio.Spec
	opts  tensorio.ImageOptions
}

func (s *fileSource) Len() int          { return len(s.files) }
func (s *fileSource) Name(i int) string { return s.files[i] }
func (s *fileSource) Input(i int) ([]byte, error) {
	b, err := tensorio.Load(s.files[i], s.spec, s.opts)
	if err != nil && !strings.Contains(err.Error(), s.files[i]) {
		err = fmt.Errorf("%s: %w", s.files[i], err)
	}
	return b, err
}

// Subset is the Source of the inputs idx of src, in that order.
func Subset(src Source, idx []int) Source { return &subset{src, idx} }

type subset struct {
	src Source
	idx []int
}

func (s *subset) Len() int                    { return len(s.idx) }
func (s *subset) Name(i int) string           { return s.src.Name(s.idx[i]) }
func (s *subset) Input(i int) ([]byte, error) { return s.src.Input(s.idx[i]) }

// Split divides n inputs into calibration and held-out ones: every round(1/holdOut)-th input
// (by position, so that sorted folders spread their classes over both) is held out; at least
// one input stays for calibration. holdOut <= 0 holds nothing out.
func Split(n int, holdOut float64) (calib, held []int) {
	every := 0
	if holdOut > 0 && n >= 2 {
		every = max(2, int(1/holdOut+0.5))
	}
	for i := range n {
		if every > 0 && i%every == every-1 {
			held = append(held, i)
		} else {
			calib = append(calib, i)
		}
	}
	return calib, held
}
