package outbound

import (
	"context"
	"time"
)

// limiter spaces messages at most rate per second: each wait returns no
// earlier than one interval after the previous one.
type limiter struct {
	interval time.Duration
	next     time.Time
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

func newLimiter(perSecond int, now func() time.Time, sleep func(context.Context, time.Duration) error) *limiter {
	if perSecond < 1 {
		perSecond = 1
	}
	return &limiter{interval: time.Second / time.Duration(perSecond), now: now, sleep: sleep}
}

// wait blocks until the next message may go, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	now := l.now()
	if l.next.After(now) {
		if err := l.sleep(ctx, l.next.Sub(now)); err != nil {
			return err
		}
		now = l.next
	}
	l.next = now.Add(l.interval)
	return nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
