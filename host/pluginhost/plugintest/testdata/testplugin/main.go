// Command testplugin is a plugin for the plugin host's tests. One binary plays many parts,
// chosen by its file name quantmcu-plugin-MODE: well-behaved ones (mark, badinput) and
// deliberately broken ones (exitstart, hangstart, garbage, badproto, panic, crash, hang,
// badmodel). Every mode first records its pid in $QUANTMCU_TEST_PIDDIR/MODE.pid so tests can
// check that no process is left behind.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quantmcu/quantmcu/plugin"
	"github.com/quantmcu/quantmcu/tflite"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

func main() {
	mode := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(os.Args[0]), "quantmcu-plugin-"), ".exe")
	if dir := os.Getenv("QUANTMCU_TEST_PIDDIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, mode+".pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	switch mode {
	case "exitstart":
		fmt.Fprintln(os.Stderr, "testplugin: cannot initialise: license file missing")
		os.Exit(3)
	case "hangstart":
		time.Sleep(time.Hour)
	case "garbage":
		fmt.Println("hello from a chatty plugin")
		plugin.Serve(tester{mode})
	case "badproto":
		plugin.ServeVersion(tester{mode}, plugin.ProtocolVersion+1)
	default:
		plugin.Serve(tester{mode})
	}
}

type tester struct{ mode string }

func (t tester) Describe() plugin.Description {
	return plugin.Description{
		Name:    t.mode,
		Version: "0.0.1-test",
		Summary: "test plugin (" + t.mode + ")",
		Options: []plugin.Option{
			{Name: "text", Type: plugin.String, Default: "marked", Help: "metadata text to add"},
			{Name: "level", Type: plugin.String, Default: "info", Help: "diagnostic level", Allowed: []string{"info", "warning"}},
		},
	}
}

func (t tester) Optimize(ctx context.Context, req *plugin.Request, progress func(string, float64)) (*plugin.Response, error) {
	switch t.mode {
	case "panic":
		panic("boom")
	case "crash":
		done := make(chan struct{})
		go func() {
			defer close(done)
			panic("crash in worker")
		}()
		<-done
	case "hang":
		select {}
	case "badmodel":
		return &plugin.Response{Model: []byte("definitely not a model")}, nil
	case "badinput":
		return nil, plugin.BadInput(errors.New("model has no CONV_2D to work on"))
	}
	return mark(req, progress)
}

// mark appends a metadata entry "mark" holding the text option to the model: a small,
// deterministic, valid change whose order in a pipeline is visible.
func mark(req *plugin.Request, progress func(string, float64)) (*plugin.Response, error) {
	m, err := tflite.Parse(req.Model, req.ModelName)
	if err != nil {
		return nil, plugin.BadInput(err)
	}
	progress("marking", 0.5)
	text, _ := req.Options.String("text")
	m.Buffers = append(m.Buffers, &schema.BufferT{Data: []byte(text)})
	m.Metadata = append(m.Metadata, &schema.MetadataT{Name: "mark", Buffer: uint32(len(m.Buffers) - 1)})
	out, err := tflite.Serialize(m)
	if err != nil {
		return nil, err
	}
	progress("done", 1)
	level := plugin.Info
	if l, _ := req.Options.String("level"); l == "warning" {
		level = plugin.Warning
	}
	return &plugin.Response{
		Model:       out,
		Summary:     fmt.Sprintf("added metadata mark=%q", text),
		Diagnostics: []plugin.Diagnostic{{Level: level, Operator: 0, Message: "first operator seen"}},
		Artifacts:   map[string][]byte{"mark.txt": []byte(text + "\n")},
	}, nil
}
