package schema

import "errors"

// Verify is a placeholder replaced by the generated structural verifier.
func Verify(buf []byte) error {
	if len(buf) < 8 {
		return errors.New("file is too short to be a FlatBuffer")
	}
	return nil
}
