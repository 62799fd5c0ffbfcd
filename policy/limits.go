package policy

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/apimgw/apimgw/netstack/http1"
)

// Shared by rate-limit, rate-limit-by-key, quota and quota-by-key: APIM's
// refusal bodies and headers (docs/interfaces.md §3).

// ceilSeconds rounds a wait up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// scratchInt formats n into the Context's reused header buffer: the string is
// valid until the next refusal on this Context (the response is sent first).
func (c *Context) scratchInt(n int64) string {
	c.errHdr = strconv.AppendInt(c.errHdr[:0], n, 10)
	return unsafe.String(unsafe.SliceData(c.errHdr), len(c.errHdr))
}

// refuseRate answers 429 with APIM's body and Retry-After.
func refuseRate(c *Context, retry time.Duration, headerName, varName string) {
	n := ceilSeconds(retry)
	secs := c.scratchInt(n)
	c.Response.reset()
	c.Response.StatusCode, c.Response.Reason = 429, "Too Many Requests"
	c.Response.Headers.Set("Content-Type", "application/json")
	c.Response.Headers.Set("Retry-After", secs)
	if headerName != "" && headerName != "Retry-After" {
		c.Response.Headers.Set(headerName, secs)
	}
	if varName != "" {
		c.vars[varName] = IntValue(n)
	}
	c.errMsg = append(c.errMsg[:0], "Rate limit is exceeded. Try again in "...)
	c.errMsg = append(strconv.AppendInt(c.errMsg, n, 10), " seconds."...)
	c.errBody = http1.AppendErrorBody(c.errBody[:0], 429, unsafe.String(unsafe.SliceData(c.errMsg), len(c.errMsg)))
	c.Response.Body = c.errBody
	c.Response.BodySet = true
}

// appendTimeSpan appends d as .NET's d.hh:mm:ss, the form APIM's quota message
// uses (rounded up to whole seconds).
func appendTimeSpan(dst []byte, d time.Duration) []byte {
	s := int64((d + time.Second - 1) / time.Second)
	dst = strconv.AppendInt(dst, s/86400, 10)
	s %= 86400
	two := func(dst []byte, v int64) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
	dst = two(append(dst, '.'), s/3600)
	dst = two(append(dst, ':'), s/60%60)
	return two(append(dst, ':'), s%60)
}

// refuseQuota answers 403 with APIM's body and Retry-After.
func refuseQuota(c *Context, renew time.Duration, bandwidth bool) {
	what := "call volume"
	if bandwidth {
		what = "bandwidth"
	}
	c.Response.reset()
	c.Response.StatusCode, c.Response.Reason = 403, "Forbidden"
	c.Response.Headers.Set("Content-Type", "application/json")
	c.Response.Headers.Set("Retry-After", c.scratchInt(ceilSeconds(renew)))
	c.errMsg = append(append(append(c.errMsg[:0], "Out of "...), what...), " quota. Quota will be replenished in "...)
	c.errMsg = append(appendTimeSpan(c.errMsg, renew), '.')
	c.errBody = http1.AppendErrorBody(c.errBody[:0], 403, unsafe.String(unsafe.SliceData(c.errMsg), len(c.errMsg)))
	c.Response.Body = c.errBody
	c.Response.BodySet = true
}

// rateSpec is one limit: calls per renewal period, with APIM's optional
// headers and variables.
type rateSpec struct {
	calls            int64
	period           time.Duration
	retryAfterHeader string
	retryAfterVar    string
	remainingHeader  string
	remainingVar     string
	totalHeader      string
}

func (b *builder) rateSpec(n *Node) rateSpec {
	return rateSpec{
		calls:            b.attrInt(n, "calls", true, 1, 1, 1<<40),
		period:           b.seconds(n, "renewal-period", true, 1),
		retryAfterHeader: b.attrString(n, "retry-after-header-name", false, ""),
		retryAfterVar:    b.attrString(n, "retry-after-variable-name", false, ""),
		remainingHeader:  b.attrString(n, "remaining-calls-header-name", false, ""),
		remainingVar:     b.attrString(n, "remaining-calls-variable-name", false, ""),
		totalHeader:      b.attrString(n, "total-calls-header-name", false, ""),
	}
}

var rateAttrs = []string{"calls", "renewal-period", "retry-after-header-name", "retry-after-variable-name",
	"remaining-calls-header-name", "remaining-calls-variable-name", "total-calls-header-name"}

// take applies one limit: it counts inc calls (0: check only, counted at
// Finish) and answers 429 when the limit is reached. It reports whether the
// request may go on; false with c.lim.wait set means the request waits for a
// lease (the step returns c.limitFlow()).
func (r *rateSpec) take(c *Context, id, key string, inc int64) bool {
	if c.lim.skip() {
		return true
	}
	ok, remaining, retry, wait := c.pipe.state.rateTakeAwait(id, key, r.calls, r.period, inc, &c.await)
	if wait {
		c.lim.wait = true
		return false
	}
	if !ok {
		refuseRate(c, retry, r.retryAfterHeader, r.retryAfterVar)
		if r.remainingHeader != "" {
			c.Response.Headers.Set(r.remainingHeader, "0")
		}
		if r.totalHeader != "" {
			c.Response.Headers.Set(r.totalHeader, strconv.FormatInt(r.calls, 10))
		}
		if r.remainingVar != "" {
			c.vars[r.remainingVar] = IntValue(0)
		}
		return false
	}
	if r.remainingHeader != "" {
		c.respHeaders.Set(r.remainingHeader, strconv.FormatInt(remaining, 10))
	}
	if r.totalHeader != "" {
		c.respHeaders.Set(r.totalHeader, strconv.FormatInt(r.calls, 10))
	}
	if r.remainingVar != "" {
		c.vars[r.remainingVar] = IntValue(remaining)
	}
	c.lim.passed++
	return true
}

// quotaSpec is one quota: calls and/or kilobytes per renewal period, periods
// aligned to firstStart.
type quotaSpec struct {
	calls      int64
	kilobytes  int64
	period     time.Duration
	firstStart time.Time
}

func (b *builder) quotaSpec(n *Node) *quotaSpec {
	q := &quotaSpec{
		calls:     b.attrInt(n, "calls", false, 0, 1, 1<<50),
		kilobytes: b.attrInt(n, "bandwidth", false, 0, 1, 1<<50),
		period:    b.seconds(n, "renewal-period", true, 0),
	}
	if q.calls == 0 && q.kilobytes == 0 {
		b.errorf(n, ErrInvalid, "at least one of calls and bandwidth is required")
	}
	return q
}

var quotaAttrs = []string{"calls", "bandwidth", "renewal-period"}

// take checks the quota and counts the call now (inc 1) or defers it (with an
// increment condition); bandwidth is always counted at Finish.
func (q *quotaSpec) take(c *Context, id, key string, cond *prop) bool {
	if c.lim.skip() {
		return true
	}
	inc := int64(1)
	if cond != nil {
		inc = 0
	}
	ok, renew, wait := c.pipe.state.quotaTakeAwait(id, key, q, inc, &c.await)
	if wait {
		c.lim.wait = true
		return false
	}
	if !ok {
		refuseQuota(c, renew, q.calls == 0)
		return false
	}
	c.lim.passed++
	if cond != nil || q.kilobytes > 0 {
		d := deferredCount{id: id, key: key, cond: cond, quota: q, bytes: q.kilobytes > 0}
		if cond != nil {
			d.inc = 1
		}
		c.deferred = append(c.deferred, d)
	}
	return true
}

// limitState is how far a limit step got before it was suspended for a lease
// (Outcome Await): the step runs again on Resume, and the limits that already
// passed (and counted) are not taken twice.
type limitState struct {
	n, passed int  // limits taken in this run of the step; passed before
	wait      bool // a limit waits for a lease
}

// skip reports whether the next limit of the step passed in an earlier run.
func (l *limitState) skip() bool {
	i := l.n
	l.n++
	return i < l.passed
}

// limitFlow is what a limit step returns when a limit did not pass: wait for
// the lease, or answer with the refusal.
func (c *Context) limitFlow() flow {
	if c.lim.wait {
		return flowAwait
	}
	return flowRespond
}
