package plugin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
)

// fake is an Optimizer that records its request and returns a fixed response.
type fake struct {
	desc Description
	resp *Response
	err  error
	got  chan *Request
}

func (f *fake) Describe() Description { return f.desc }

func (f *fake) Optimize(ctx context.Context, req *Request, progress func(string, float64)) (*Response, error) {
	if f.got != nil {
		f.got <- req
	}
	progress("half", 0.5)
	progress("unknown", -1)
	if f.err != nil {
		return nil, f.err
	}
	return f.resp, nil
}

func sampleDescription() Description {
	return Description{
		Name: "sample", Version: "1.2.3", Summary: "does things",
		Options: []Option{
			{Name: "s", Type: String, Default: "x", Help: "a string", Allowed: []string{"x", "y"}},
			{Name: "i", Type: Int, Default: "-3", Help: "an int"},
			{Name: "f", Type: Float, Default: "0.5", Help: "a float"},
			{Name: "b", Type: Bool, Default: "true", Help: "a bool"},
			{Name: "sram", Type: Size, Default: "262144", Help: "a size"},
		},
	}
}

func sampleResponse() *Response {
	return &Response{
		Model: []byte("model-out"),
		Diagnostics: []Diagnostic{
			{Level: Info, Subgraph: 0, Operator: -1, Message: "whole model"},
			{Level: Warning, Subgraph: 0, Operator: 7, Message: "op 7"},
			{Level: Error, Subgraph: 2, Operator: 1, Message: "sg 2 op 1"},
		},
		Artifacts: map[string][]byte{"summary.csv": []byte("a,b\n"), "memory.svg": []byte("<svg/>")},
		Summary:   "did it\nsecond line",
	}
}

func dispense(t *testing.T, impl Optimizer) *Client {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{PluginName: &GRPCPlugin{Impl: impl}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*Client)
}

// TestRoundTrip sends every field of every message through a real gRPC connection.
func TestRoundTrip(t *testing.T) {
	f := &fake{desc: sampleDescription(), resp: sampleResponse(), got: make(chan *Request, 1)}
	c := dispense(t, f)
	ctx := context.Background()

	d, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleDescription()
	want.ProtocolVersion, want.PID = ProtocolVersion, os.Getpid()
	if !reflect.DeepEqual(*d, want) {
		t.Fatalf("Describe:\n got %+v\nwant %+v", *d, want)
	}
	if err := CheckDescription(d); err != nil {
		t.Fatal(err)
	}

	opts, err := Resolve(d, map[string]string{"sram": "256KiB", "b": "no", "s": "y"})
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Model: []byte{0, 1, 2, 255}, ModelName: "person_detect", Options: opts}
	var events []string
	var fractions []float64
	resp, err := c.Optimize(ctx, req, func(msg string, fr float64) {
		events = append(events, msg)
		fractions = append(fractions, fr)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := <-f.got
	wantOpts := Options{"s": "y", "i": "-3", "f": "0.5", "b": "false", "sram": "262144"}
	if !bytes.Equal(got.Model, req.Model) || got.ModelName != "person_detect" || !reflect.DeepEqual(got.Options, wantOpts) {
		t.Fatalf("plugin got %+v, want model %v, options %v", got, req.Model, wantOpts)
	}
	if !reflect.DeepEqual(events, []string{"half", "unknown"}) || !reflect.DeepEqual(fractions, []float64{0.5, -1}) {
		t.Fatalf("progress %v %v", events, fractions)
	}
	if !reflect.DeepEqual(resp, sampleResponse()) {
		t.Fatalf("Optimize:\n got %+v\nwant %+v", resp, sampleResponse())
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	ctx := context.Background()
	req := &Request{Options: Options{}}
	d := Description{Name: "e", Version: "0"}

	bad := dispense(t, &fake{desc: d, err: BadInput(errors.New("no CONV_2D"))})
	_, err := bad.Optimize(ctx, req, nil)
	var re *RemoteError
	if !IsBadInput(err) || !errors.As(err, &re) || re.Msg != "no CONV_2D" {
		t.Fatalf("bad input: got %v (bad input %v)", err, IsBadInput(err))
	}

	internal := dispense(t, &fake{desc: d, err: errors.New("out of memory")})
	_, err = internal.Optimize(ctx, req, nil)
	if IsBadInput(err) || !errors.As(err, &re) || re.Msg != "out of memory" {
		t.Fatalf("internal: got %v", err)
	}

	// A panicking optimizer is answered with an error; the server stays up.
	p := dispense(t, panicker{})
	for range 2 {
		_, err = p.Optimize(ctx, req, nil)
		if !errors.As(err, &re) || re.Msg != "panic: index out of range" {
			t.Fatalf("panic: got %v", err)
		}
	}

	// Unknown options are refused before the optimizer runs.
	f := &fake{desc: sampleDescription(), resp: sampleResponse()}
	_, err = dispense(t, f).Optimize(ctx, &Request{Options: Options{"nope": "1"}}, nil)
	if !IsBadInput(err) {
		t.Fatalf("unknown option: got %v", err)
	}
}

type panicker struct{}

func (panicker) Describe() Description { return Description{Name: "p", Version: "0"} }
func (panicker) Optimize(context.Context, *Request, func(string, float64)) (*Response, error) {
	panic("index out of range")
}

func sharedModel(t *testing.T, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data", "models", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("%s absent: %v", name, err)
	}
	return data
}

// TestLargeMessages serves through Serve's own gRPC server (go-plugin test mode): the 3.98 MB
// MobileNetV2 model twice (8 MB) goes to the plugin, which is above gRPC's 4 MiB default
// receive limit, and comes back three times (12 MB).
func TestLargeMessages(t *testing.T) {
	model := sharedModel(t, "mobilenet_v2_quantized_1x3x224x224.tflite")
	big := bytes.Repeat(model, 2)
	impl := &fake{desc: Description{Name: "big", Version: "0"}, resp: &Response{Model: model, Artifacts: map[string][]byte{"copy.bin": big}},
		got: make(chan *Request, 1)}

	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *goplugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}}},
		GRPCServer:       NewGRPCServer,
		Test:             &goplugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	defer func() { cancel(); <-closed }()
	var rc *goplugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-time.After(time.Minute):
		t.Fatal("plugin did not start")
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake(),
		Plugins:          goplugin.PluginSet{PluginName: &GRPCPlugin{}}, // reattaching skips version negotiation
		Reattach:         rc,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  DialOptions(),
	})
	defer client.Kill()
	proto, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Dispense(PluginName)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := raw.(*Client).Optimize(context.Background(), &Request{Model: big, Options: Options{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-impl.got; !bytes.Equal(got.Model, big) {
		t.Fatalf("plugin received %d bytes, want %d", len(got.Model), len(big))
	}
	if !bytes.Equal(resp.Model, model) || !bytes.Equal(resp.Artifacts["copy.bin"], big) {
		t.Fatalf("large reply corrupted: %d and %d bytes", len(resp.Model), len(resp.Artifacts["copy.bin"]))
	}
}
