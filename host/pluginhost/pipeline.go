package pluginhost

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/tflite"
)

// Step is one plugin of a pipeline with its resolved options.
type Step struct {
	Plugin  *Plugin
	Options plugin.Options
}

// StepResult is what one step did.
type StepResult struct {
	Name, Version string
	InBytes       int
	OutBytes      int
	Duration      time.Duration
	Summary       string
	Diagnostics   []plugin.Diagnostic
	Artifacts     map[string][]byte
}

// Result is the outcome of a whole pipeline.
type Result struct {
	// Model is the final model, checked with tflite.Parse.
	Model []byte
	Steps []StepResult
}

// Artifacts merges the steps' report artifacts; a later step's artifact replaces an earlier
// one of the same name. It returns the names in order too.
func (r *Result) Artifacts() (map[string][]byte, []string) {
	out := map[string][]byte{}
	for _, s := range r.Steps {
		for name, data := range s.Artifacts {
			out[name] = data
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	return out, names
}

// ProgressFunc receives the progress events of step i (0-based) of a pipeline.
type ProgressFunc func(step int, plugin, msg string, fraction float64)

// Run passes model through the steps in order. After every step the returned model is
// checked with tflite.Parse and the artifact names with plugin.ValidArtifactName; the first
// failure stops the pipeline with an *Error naming the plugin. progress may be nil.
func Run(ctx context.Context, steps []Step, model []byte, modelName string, progress ProgressFunc) (*Result, error) {
	res := &Result{}
	for i, s := range steps {
		p := s.Plugin
		var pf func(string, float64)
		if progress != nil {
			pf = func(msg string, f float64) { progress(i, p.Name, msg, f) }
		}
		start := time.Now()
		resp, err := p.Optimize(ctx, &plugin.Request{Model: model, ModelName: modelName, Options: s.Options}, pf)
		if err != nil {
			return nil, err
		}
		if _, err := tflite.Parse(resp.Model, "model"); err != nil {
			return nil, &Error{Plugin: p.Name, Msg: fmt.Sprintf("returned an invalid model: %v", err), Err: err}
		}
		for name := range resp.Artifacts {
			if !plugin.ValidArtifactName(name) {
				return nil, &Error{Plugin: p.Name, Msg: fmt.Sprintf("returned a report artifact with an unusable name %q (want letters, digits, '.', '-', '_')", name)}
			}
		}
		res.Steps = append(res.Steps, StepResult{
			Name: p.Name, Version: p.Desc.Version,
			InBytes: len(model), OutBytes: len(resp.Model), Duration: time.Since(start),
			Summary: resp.Summary, Diagnostics: resp.Diagnostics, Artifacts: resp.Artifacts,
		})
		model = resp.Model
	}
	res.Model = model
	return res, nil
}
