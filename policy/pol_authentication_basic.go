package policy

import "encoding/base64"

// authentication-basic authenticates to the backend with HTTP Basic: it sets
// the request's Authorization header to "Basic base64(username:password)".
// Both attributes are required; expressions and named values are allowed (a
// secret named value keeps the password out of errors). Inbound only, as in
// APIM.
func init() {
	register("authentication-basic", inInbound, []string{"username", "password"}, compileAuthBasic)
}

type authBasic struct {
	user, pass prop
	lit        string // the header value when both are literals
}

func compileAuthBasic(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	s := &authBasic{user: b.attrProp(n, "username", true), pass: b.attrProp(n, "password", true)}
	if s.user.e == nil && s.pass.e == nil {
		s.lit = basicValue(s.user.lit.s, s.pass.lit.s)
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func basicValue(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func (s *authBasic) run(c *Context) (flow, error) {
	v := s.lit
	if v == "" {
		u, err := s.user.str(c)
		if err != nil {
			return flowNext, err
		}
		p, err := s.pass.str(c)
		if err != nil {
			return flowNext, err
		}
		v = basicValue(u, p)
	}
	c.Request.Headers.Set("Authorization", v)
	return flowNext, nil
}
