// Package pluginpb holds the generated Go bindings of the quantmcu plugin protocol
// (optimizer.proto). Use package plugin for the SDK and the go-plugin glue.
package pluginpb

//go:generate sh generate.sh
