package policy

import "time"

// retry runs its children once, then again while the condition holds and
// attempts remain. Between attempts the pipeline returns Wait with the delay
// (the caller sleeps off the loop and resumes). Delays follow APIM: a fixed
// interval; with delta, linear (interval + n·delta); with delta and
// max-interval, exponential (interval + (2^n − 1)·delta, capped). APIM's
// random jitter on the exponential delta is left out, so delays are exact.
func init() {
	register("retry", inAll, []string{"condition", "count", "interval", "max-interval", "delta", "first-fast-retry"}, compileRetry)
}

type retrySpec struct {
	cond                         *expr
	count                        int
	interval, maxInterval, delta time.Duration
	firstFast                    bool
}

func compileRetry(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	rs := &retrySpec{
		cond:        b.condition(n, "condition"),
		count:       int(b.attrInt(n, "count", true, 1, 1, 50)),
		interval:    b.seconds(n, "interval", true, 0),
		maxInterval: b.seconds(n, "max-interval", false, 0),
		delta:       b.seconds(n, "delta", false, 0),
		firstFast:   b.attrBool(n, "first-fast-retry", false),
	}
	if rs.maxInterval > 0 && rs.delta == 0 {
		b.errorf(n, ErrInvalid, "max-interval needs delta (exponential retry)")
	}
	b.emit(instr{op: opRetryInit, meta: m})
	start := len(b.prog)
	b.policies(n.Children)
	check := len(b.prog)
	b.emit(instr{op: opRetryCheck, retry: rs, arg: start - check, meta: m})
}

func (r *retrySpec) again(c *Context, st *retryState) (bool, error) {
	if st.attempt >= r.count {
		return false, nil
	}
	v, err := r.cond.eval(c)
	if err != nil {
		return false, err
	}
	if v.k != kBool {
		return false, evalErr("retry condition is %s, not bool", v.k)
	}
	return v.b, nil
}

// delay before retry number attempt+1 (attempt counts retries already made).
func (r *retrySpec) delay(attempt int) time.Duration {
	if r.firstFast && attempt == 0 {
		return 0
	}
	if r.firstFast {
		attempt--
	}
	switch {
	case r.delta > 0 && r.maxInterval > 0:
		d := r.interval + time.Duration((int64(1)<<min(attempt, 30))-1)*r.delta
		return min(d, r.maxInterval)
	case r.delta > 0:
		return r.interval + time.Duration(attempt)*r.delta
	}
	return r.interval
}
