package ingest

import (
	"bytes"
	"sync"
)

// bufPool recycles byte buffers: SMTP DATA (a message is held only until
// it is committed; bbolt copies it into its pages) and decoded text parts.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// getBuf returns an empty buffer from the pool.
func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// putBuf gives b back, unless it grew too big to keep around.
func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}
