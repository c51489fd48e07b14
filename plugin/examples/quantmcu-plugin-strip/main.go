// Command quantmcu-plugin-strip is a quantmcu optimizer plugin that makes a model smaller
// without changing what it computes: it merges duplicate operator codes and drops unused ones,
// drops buffers nothing refers to, drops metadata no runtime reads (min_runtime_version,
// CONVERSION_METADATA) and, on request, tensor names. It reports the bytes saved.
//
// Install it on PATH or in a plugin directory and run
//
//	quantmcu optimize model.tflite --pipeline strip --set strip.names=true
//
// It doubles as the example of the plugin SDK: main is one line.
package main

import "github.com/quantmcu/quantmcu/plugin"

func main() { plugin.Serve(stripper{}) }
