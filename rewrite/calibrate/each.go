package calibrate

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/quantmcu/quantmcu/tflite/interp"
	"github.com/quantmcu/quantmcu/tflite/schema"
)

// Job is work done on every input of a Source by Each.
type Job struct {
	Threads  int                                                   // interpreters run in parallel (0: all cores)
	Progress func(done, total int)                                 // after each input, when set
	Setup    func(w int, it *interp.Interpreter)                   // once per worker (e.g. its hook), when set
	Before   func(w, i int)                                        // before input i runs on worker w, when set
	After    func(w, i int, it *interp.Interpreter, outs [][]byte) // with its outputs, when set
}

// Each runs model m on every input of src, one interpreter per worker (clones sharing the
// weights); the first error stops it. Input errors name the input (Source's contract).
func Each(m *schema.ModelT, src Source, job Job) error {
	n := src.Len()
	if n == 0 {
		return nil
	}
	threads := job.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	threads = min(threads, n)
	base, err := interp.New(m, interp.WithThreads(1))
	if err != nil {
		return err
	}
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		firstErr   error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for w := range threads {
		it := base
		if w > 0 {
			it = base.Clone()
		}
		if job.Setup != nil {
			job.Setup(w, it)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				in, err := src.Input(i)
				if err != nil {
					fail(err)
					return
				}
				if job.Before != nil {
					job.Before(w, i)
				}
				outs, err := it.Invoke(in)
				if err != nil {
					fail(fmt.Errorf("%s: %w", src.Name(i), err))
					return
				}
				if job.After != nil {
					job.After(w, i, it, outs)
				}
				if d := int(done.Add(1)); job.Progress != nil {
					job.Progress(d, n)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
