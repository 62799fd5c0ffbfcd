package policy

import (
	"net/netip"
	"strings"
)

// ip-filter allows only (action="allow") or refuses (action="forbid") the
// listed client addresses and ranges; a refused call gets 403.
func init() {
	register("ip-filter", inInbound, []string{"action"}, compileIPFilter)
}

type ipRange struct {
	from, to netip.Addr
}

type ipFilter struct {
	allow  bool
	ranges []ipRange
}

var ipForbidden = []byte(`{"statusCode":403,"message":"Forbidden"}`)

func compileIPFilter(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &ipFilter{allow: b.attrEnum(n, "action", "", "allow", "forbid") == "allow"}
	if _, ok := n.Attr("action"); !ok {
		b.errorf(n, ErrInvalid, "attribute \"action\" is required (allow or forbid)")
	}
	b.onlyChildren(n, "address", "address-range")
	parse := func(ch *Node, pos Pos, s string) netip.Addr {
		a, err := netip.ParseAddr(strings.TrimSpace(b.subst(ch, pos, s)))
		if err != nil {
			b.errorAt(ch, pos, ErrInvalid, "%q is not an IP address", strings.TrimSpace(s))
		}
		return a.Unmap()
	}
	for _, ch := range n.Children {
		switch ch.Name {
		case "address":
			b.checkAttrs(ch)
			b.noChildren(ch)
			a := parse(ch, ch.TextPos, ch.Text)
			s.ranges = append(s.ranges, ipRange{a, a})
		case "address-range":
			b.checkAttrs(ch, "from", "to")
			b.noChildren(ch)
			f, _ := ch.Attr("from")
			t, _ := ch.Attr("to")
			r := ipRange{parse(ch, f.ValuePos, f.Value), parse(ch, t.ValuePos, t.Value)}
			if r.from.IsValid() && r.to.IsValid() && (r.from.BitLen() != r.to.BitLen() || r.to.Less(r.from)) {
				b.errorf(ch, ErrInvalid, "range %s – %s is empty or mixes address families", r.from, r.to)
			}
			s.ranges = append(s.ranges, r)
		}
	}
	if len(s.ranges) == 0 {
		b.errorf(n, ErrInvalid, "needs at least one <address> or <address-range>")
	}
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *ipFilter) run(c *Context) (flow, error) {
	ip := c.Request.ClientIP.Unmap()
	in := false
	for _, r := range s.ranges {
		if ip.BitLen() == r.from.BitLen() && !ip.Less(r.from) && !r.to.Less(ip) {
			in = true
			break
		}
	}
	if in == s.allow {
		return flowNext, nil
	}
	c.Response.reset()
	c.Response.StatusCode, c.Response.Reason = 403, "Forbidden"
	c.Response.Headers.Set("Content-Type", "application/json")
	c.Response.Body, c.Response.BodySet = ipForbidden, true
	return flowRespond, nil
}
