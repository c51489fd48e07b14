// Command quantmcu optimizes int8 TFLite models for microcontrollers: patch-based inference
// (MCUNetV2) with value-driven mixed precision (QuantMCU). Run `quantmcu --help`.
package main

import (
	"os"

	"github.com/quantmcu/quantmcu/host/cli"
)

func main() {
	env := &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Self: cli.SelfPath()}
	os.Exit(cli.Main(os.Args[1:], env))
}
