package tfmicroops

// RunPortable is Stage.Run with the portable C loops only (no host SIMD), for comparing the two.
func (s *Stage) RunPortable(input, output []byte, scratch [][]byte) (Stats, error) {
	return s.run(input, output, scratch, runPortable)
}
