#!/bin/sh
# Regenerates optimizer.pb.go and optimizer_grpc.pb.go from optimizer.proto (run through
# `go generate ./plugin/pluginpb`). Needs protoc (Debian: protobuf-compiler) and network access
# for the pinned code generators; the generated files are committed, so builds never need this.
set -eu
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PATH=$bin:$PATH protoc -I. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	optimizer.proto
