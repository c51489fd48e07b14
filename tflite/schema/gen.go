// Package schema holds the Go bindings of the TFLite FlatBuffers schema (schema.fbs), generated
// by flatc with the object API. Do not edit the generated files; edit schema.fbs and run
// `go generate ./tflite/schema` (needs flatc, Debian package flatbuffers-compiler).
package schema

//go:generate sh -c "rm -f *_generated.go && flatc --go --gen-object-api --go-namespace schema -o .tmp schema.fbs && mv .tmp/schema/*.go . && rm -rf .tmp && for f in [A-Z]*.go; do mv $DOLLAR{f} $DOLLAR{f%.go}_generated.go; done && gofmt -w ."
