package appliance

import (
	"context"
	"strings"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
)

// cacheLookup reads the external cache key a cache policy asked for
// (policy.CacheLookup) on a call worker, with the exchange suspended as for
// send-request, and resumes the pipeline with the answer on its loop. A full
// worker queue is a miss at once: a cache never holds a request up.
func (h *Handler) cacheLookup(x *netstack.Exchange, st *reqState, lk *policy.CacheLookup, next func(*netstack.Exchange, *reqState, policy.Result)) {
	p, pc := h.calls(), st.pc
	ec, key := lk.Cache, strings.Clone(lk.Key) // the key may point into the request's buffers
	x.Suspend()
	ok := p.submit(func() {
		val, found, err := ec.Get(context.Background(), key)
		x.Resume(func(x *netstack.Exchange) {
			pc.CacheDone(val, found, err)
			next(x, st, st.pl.Resume(pc))
		})
	})
	if !ok {
		pc.CacheDone(nil, false, ErrCallQueueFull)
		x.Resume(func(x *netstack.Exchange) { next(x, st, st.pl.Resume(pc)) })
	}
}
