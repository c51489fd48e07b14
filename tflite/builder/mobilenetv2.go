package builder

import (
	"fmt"

	"github.com/quantmcu/quantmcu/tflite/schema"
)

// MobileNetV2Config sizes a MobileNetV2-style network (Sandler et al. 2018): inverted
// residual blocks of 1x1 expansion, 3x3 depthwise and linear 1x1 projection, with
// residual ADDs where shapes allow.
type MobileNetV2Config struct {
	Resolution int     // input height and width (e.g. 128)
	Width      float64 // width multiplier (e.g. 0.35)
	Classes    int     // classifier outputs
	LastConv   int     // channels of the final 1x1 convolution before pooling
	Seed       uint64  // weight generator seed
}

// DefaultModelName names the embedded demo model in the CLI (builtin:NAME).
const DefaultModelName = "mobilenetv2-demo"

// DemoConfig is the project's embedded default model: MobileNetV2-0.35 at 128x128 RGB,
// 10 classes. Its first stage (64x64 feature maps) dominates peak memory, as in every
// MobileNet-class network, which is what patch-based inference removes.
func DemoConfig() MobileNetV2Config {
	return MobileNetV2Config{Resolution: 128, Width: 0.35, Classes: 10, LastConv: 320, Seed: 1}
}

// roundChannels rounds c*width to a multiple of 8, never dropping more than 10% (the
// _make_divisible rule of the reference MobileNet implementations).
func roundChannels(c int, width float64) int {
	v := float64(c) * width
	r := max(8, int(v+4)/8*8)
	if float64(r) < 0.9*v {
		r += 8
	}
	return r
}

// MobileNetV2 builds the network with uint8-style image input (scale 1/128, zero point 0:
// pixels mapped to [-1, 1)) and an int8 softmax output.
func MobileNetV2(cfg MobileNetV2Config) (*schema.ModelT, error) {
	if cfg.Resolution < 32 || cfg.Width <= 0 || cfg.Classes <= 0 || cfg.LastConv <= 0 {
		return nil, fmt.Errorf("mobilenetv2: invalid config %+v", cfg)
	}
	b := New(cfg.Seed)
	relu6 := schema.ActivationFunctionTypeRELU6
	same := schema.PaddingSAME
	x := b.Input("input", []int32{1, int32(cfg.Resolution), int32(cfg.Resolution), 3}, Quant{Scale: 1.0 / 128, ZeroPoint: 0})
	c0 := roundChannels(32, cfg.Width)
	x = b.Conv2D(x, Conv{Name: "stem/conv", OutChannels: c0, Kernel: 3, Stride: 2, Padding: same, Activation: relu6})
	// (expansion t, output channels c, repeats n, first stride s) from the MobileNetV2 paper.
	stages := [][4]int{{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}}
	inC := c0
	block := 0
	for _, st := range stages {
		t, c, n, s := st[0], roundChannels(st[1], cfg.Width), st[2], st[3]
		for i := range n {
			stride := 1
			if i == 0 {
				stride = s
			}
			name := fmt.Sprintf("block%d", block)
			h := x
			if t != 1 {
				h = b.Conv2D(h, Conv{Name: name + "/expand", OutChannels: inC * t, Kernel: 1, Padding: same, Activation: relu6})
			}
			h = b.DepthwiseConv2D(h, Conv{Name: name + "/depthwise", Kernel: 3, Stride: stride, Padding: same, Activation: relu6})
			h = b.Conv2D(h, Conv{Name: name + "/project", OutChannels: c, Kernel: 1, Padding: same})
			if stride == 1 && inC == c {
				h = b.Add(name+"/add", x, h, schema.ActivationFunctionTypeNONE)
			}
			x, inC = h, c
			block++
		}
	}
	x = b.Conv2D(x, Conv{Name: "head/conv", OutChannels: cfg.LastConv, Kernel: 1, Padding: same, Activation: relu6})
	x = b.MeanHW("head/pool", x)
	x = b.Reshape("head/flatten", x, []int32{1, int32(cfg.LastConv)})
	x = b.FullyConnected("head/logits", x, cfg.Classes, schema.ActivationFunctionTypeNONE)
	x = b.Softmax("output", x)
	b.Output(x)
	return b.Model()
}
