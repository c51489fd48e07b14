package interp

func dot4(a, w []int16, kp int, acc *[4]int32) { dot4Generic(a, w, kp, acc) }
