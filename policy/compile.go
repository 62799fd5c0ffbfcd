package policy

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scope is where a policy document is attached. Scopes nest global → product →
// API → operation; each inner document decides with <base/> where its parent's
// policies run.
type Scope uint8

// The four scopes.
const (
	ScopeGlobal Scope = iota
	ScopeProduct
	ScopeAPI
	ScopeOperation
)

var scopeNames = [...]string{"global", "product", "api", "operation"}

func (s Scope) String() string { return scopeNames[s] }

// Source is one policy document to compile. Name identifies it in errors and,
// for rate limits and quotas, in counter identities: give it a stable name that
// says what it is attached to (e.g. "apis/echo/operations/get"), so that a
// config swap that keeps the document keeps its counters.
type Source struct {
	Name string
	XML  []byte
}

// NamedValue is a {{name}} template value. Secret values never appear in
// errors this package returns.
type NamedValue struct {
	Value  string
	Secret bool
}

// Options configure a Compiler for one snapshot.
type Options struct {
	// NamedValues by name (the name inside {{ }}).
	NamedValues map[string]NamedValue
	// Fragments by fragment id: <fragment> documents for include-fragment.
	Fragments map[string]Source
	// Backends maps a backend id (set-backend-service backend-id) to its URL.
	Backends map[string]string
	// State holds rate-limit, quota and concurrency counters. Pass the same
	// State to every snapshot's compiler so a swap keeps the counters. Nil
	// means a private State on the wall clock.
	State *State
	// StepBudget bounds each expression evaluation (DefaultStepBudget if 0).
	StepBudget int
	// Certificates are the snapshot's client certificates with their keys,
	// by certificate id (authentication-certificate certificate-id; by
	// thumbprint too).
	Certificates map[string]*tls.Certificate
	// Offline is for checking documents without a snapshot (apimctl policy
	// check): undefined named values, backends and fragments are not errors.
	Offline bool
}

// Compiler compiles the policy documents of one snapshot. It is not safe for
// concurrent use; the Policies and Pipelines it returns are immutable and safe
// for any number of goroutines, and stay valid after the Compiler is dropped.
type Compiler struct {
	opts      Options
	secrets   []string
	fragments map[string]*Document
	thumbs    map[string]*tls.Certificate // Certificates by thumbprint (pol_authentication_certificate.go)
	// A snapshot often attaches one document to many operations (and one
	// expression to many places). Documents read and expressions compiled
	// are kept by their text for the Compiler's life, so each is parsed
	// once: parse trees are read-only to the compiler, and a compiled
	// expression holds no name of its place (meta does) and is already
	// shared by every loop. Only successes are kept: an error is made
	// again, naming its own file.
	parsed map[string]*Document
	exprs  map[exprKey]*expr
}

type exprKey struct {
	src   string
	block bool
}

// NewCompiler returns a Compiler for one snapshot's named values, fragments and
// backends.
func NewCompiler(o Options) *Compiler {
	if o.State == nil {
		o.State = NewState(nil)
	}
	if o.StepBudget <= 0 {
		o.StepBudget = DefaultStepBudget
	}
	c := &Compiler{opts: o, fragments: map[string]*Document{}, parsed: map[string]*Document{}, exprs: map[exprKey]*expr{}}
	for _, nv := range o.NamedValues {
		if nv.Secret && nv.Value != "" {
			c.secrets = append(c.secrets, nv.Value)
		}
	}
	return c
}

// Policy is one compiled document of one scope, before merging. Link merges
// the four scopes into a Pipeline.
type Policy struct {
	name     string
	scope    Scope
	sections [numSections][]instr
	present  [numSections]bool
	reads    bodyNeeds
}

// Name is the Source name the Policy was compiled from.
func (p *Policy) Name() string { return p.name }

// Compile reads and compiles one <policies> document of the given scope. On
// failure the error is an ErrorList naming file, line, column, element and
// reason for every problem found.
func (cp *Compiler) Compile(scope Scope, src Source) (*Policy, error) {
	doc, err := cp.read(src)
	if err != nil {
		return nil, cp.list(err)
	}
	return cp.CompileDocument(scope, doc)
}

// read is Read, once per distinct text: a document seen before comes back
// as a copy naming src.Name, sharing the parse tree.
func (cp *Compiler) read(src Source) (*Document, error) {
	if d, ok := cp.parsed[string(src.XML)]; ok {
		c := *d
		c.File = src.Name
		return &c, nil
	}
	doc, err := Read(src.Name, src.XML)
	if err != nil {
		return nil, err
	}
	cp.parsed[string(src.XML)] = doc
	return doc, nil
}

// expression is compileExpression, once per distinct source.
func (cp *Compiler) expression(src string, block bool) (*expr, *exprError) {
	k := exprKey{src, block}
	if e, ok := cp.exprs[k]; ok {
		return e, nil
	}
	e, ee := compileExpression(src, block)
	if ee == nil {
		cp.exprs[k] = e
	}
	return e, ee
}

// CompileDocument compiles an already-read document.
func (cp *Compiler) CompileDocument(scope Scope, doc *Document) (*Policy, error) {
	var errs ErrorList
	p := &Policy{name: doc.File, scope: scope}
	root := doc.Root
	b := cp.newBuilder(doc, &errs)
	if root.Name != "policies" {
		b.errorf(root, ErrUnsupported, "root element must be <policies> (a <%s> document cannot be attached to a scope)", root.Name)
		return nil, cp.redactList(errs)
	}
	b.checkRootAttrs(root)
	b.noText(root)
	for _, sn := range root.Children {
		s, ok := sectionByName(sn.Name)
		if !ok {
			b.errorf(sn, ErrUnsupported, "unknown section (expected inbound, backend, outbound or on-error)")
			continue
		}
		if p.present[s] {
			b.errorf(sn, ErrInvalid, "section appears twice")
			continue
		}
		b.checkAttrs(sn)
		b.noText(sn)
		p.present[s] = true
		b.sec, b.prog = s, nil
		b.target = targetFor(s)
		bases := 0
		for _, child := range sn.Children {
			if child.Name == "base" {
				bases++
				if bases > 1 {
					b.errorf(child, ErrInvalid, "<base/> appears more than once in <%s>", s)
				}
				b.checkAttrs(child)
				b.noChildren(child)
				b.emit(instr{op: opBase, meta: b.meta(child)})
				continue
			}
			b.policy(child)
		}
		p.sections[s] = b.prog
	}
	if len(errs) > 0 {
		return nil, cp.redactList(errs)
	}
	p.reads = b.reads
	return p, nil
}

// CheckFragment compiles a <fragment> document on its own, as include-fragment
// would in any section, and reports its errors.
func (cp *Compiler) CheckFragment(src Source) error {
	doc, err := Read(src.Name, src.XML)
	if err != nil {
		return cp.list(err)
	}
	var errs ErrorList
	b := cp.newBuilder(doc, &errs)
	if doc.Root.Name != "fragment" {
		b.errorf(doc.Root, ErrUnsupported, "root element must be <fragment>")
		return cp.redactList(errs)
	}
	b.anySection = true
	b.checkRootAttrs(doc.Root)
	b.noText(doc.Root)
	for _, child := range doc.Root.Children {
		b.policy(child)
	}
	if len(errs) > 0 {
		return cp.redactList(errs)
	}
	return nil
}

func (cp *Compiler) list(err error) error {
	if e, ok := err.(*Error); ok {
		return cp.redactList(ErrorList{e})
	}
	return err
}

// redactList replaces the value of every secret named value in error texts.
func (cp *Compiler) redactList(l ErrorList) error {
	for _, e := range l {
		e.Msg = cp.redact(e.Msg)
	}
	return l
}

func (cp *Compiler) redact(s string) string {
	for _, sec := range cp.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// Link merges the compiled scopes into the pipeline of one operation: each
// section of the operation's document, with <base/> replaced by the API's
// section, whose <base/> is the product's, whose <base/> is the global one. A
// nil Policy, or a missing section, acts as "<base/>" alone. If the merged
// backend section never forwards, a forward-request with APIM's defaults is
// appended, as APIM's default global policy does.
func (cp *Compiler) Link(global, product, api, operation *Policy) *Pipeline {
	chain := [...]*Policy{global, product, api, operation}
	pl := &Pipeline{state: cp.opts.State, budget: cp.opts.StepBudget, secrets: cp.secrets}
	for _, p := range chain {
		if p != nil {
			pl.reads |= p.reads
		}
	}
	// One array for all sections, of the exact size: a snapshot links a
	// pipeline per operation (and product), so slack here is paid thousands
	// of times.
	total := 1 // the default forward-request, if the backend section needs it
	for s := Section(0); s < numSections; s++ {
		total += expandedLen(chain[:], len(chain)-1, s)
	}
	all := make([]instr, 0, total)
	for s := Section(0); s < numSections; s++ {
		start := len(all)
		all = expand(all, chain[:], len(chain)-1, s)
		prog := all[start:len(all):len(all)]
		if s == Backend && !hasForward(prog) {
			all = append(all, instr{op: opStep, step: defaultForward, meta: defaultForwardMeta, flow: true})
			prog = all[start:len(all):len(all)]
		}
		if len(prog) == 0 {
			prog = nil
		}
		for i := range prog {
			if prog[i].op == opRetryInit {
				prog[i].slot = pl.retrySlots
				pl.retrySlots++
			}
		}
		pl.sections[s] = prog
	}
	return pl
}

// The forward-request Link appends where a backend section never forwards:
// one for every pipeline (a step holds no per-request state).
var (
	defaultForward     = &forwardRequest{timeout: defaultForwardTimeout, bufferResponse: true}
	defaultForwardMeta = &meta{name: "forward-request", file: "(default backend section)"}
)

// expand appends section s of chain[level], with <base/> replaced by the
// levels above it, to out.
func expand(out []instr, chain []*Policy, level int, s Section) []instr {
	if level < 0 {
		return out
	}
	p := chain[level]
	if p == nil || !p.present[s] {
		return expand(out, chain, level-1, s)
	}
	for _, in := range p.sections[s] {
		if in.op == opBase {
			out = expand(out, chain, level-1, s)
			continue
		}
		out = append(out, in)
	}
	return out
}

func expandedLen(chain []*Policy, level int, s Section) int {
	if level < 0 {
		return 0
	}
	p := chain[level]
	if p == nil || !p.present[s] {
		return expandedLen(chain, level-1, s)
	}
	n := 0
	for _, in := range p.sections[s] {
		if in.op == opBase {
			n += expandedLen(chain, level-1, s)
			continue
		}
		n++
	}
	return n
}

func hasForward(prog []instr) bool {
	for _, in := range prog {
		if _, ok := in.step.(*forwardRequest); ok {
			return true
		}
	}
	return false
}

// target is what set-header, set-body and set-status change.
type target uint8

const (
	toRequest target = iota
	toResponse
)

func targetFor(s Section) target {
	if s == Inbound || s == Backend {
		return toRequest
	}
	return toResponse
}

type sectionMask uint8

const (
	inInbound  sectionMask = 1 << Inbound
	inBackend  sectionMask = 1 << Backend
	inOutbound sectionMask = 1 << Outbound
	inOnError  sectionMask = 1 << OnError
	inAll                  = inInbound | inBackend | inOutbound | inOnError
)

type compileFunc func(b *builder, n *Node)

type registration struct {
	sections sectionMask
	// attrs are the attributes the policy accepts; anything else is an error.
	attrs   []string
	compile compileFunc
}

var registry = map[string]*registration{}

// register adds a policy element. Each policy file registers itself in init.
func register(name string, sections sectionMask, attrs []string, fn compileFunc) {
	if _, dup := registry[name]; dup {
		panic("policy: " + name + " registered twice")
	}
	registry[name] = &registration{sections: sections, attrs: attrs, compile: fn}
}

// Supported lists the policy elements this package compiles.
func Supported() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type meta struct {
	name string // element
	file string
	pos  Pos
	id   string // counter identity: file|section|element#ordinal
	// policyID is the element's id attribute and path its place below the
	// section (context.LastError.PolicyId and Path).
	policyID, path string
}

type opcode uint8

const (
	opStep       opcode = iota // run step
	opJump                     // pc += arg
	opJumpIfNot                // if !cond: pc += arg
	opRetryInit                // reset retry slot
	opRetryCheck               // cond and attempts left: delay, pc += arg (back to the body)
	opConcExit                 // release the innermost limit-concurrency slot
	opBase                     // <base/>, replaced by Link
)

type instr struct {
	op    opcode
	flow  bool // the step may return a flow other than flowNext
	arg   int
	slot  int
	step  stepper
	cond  *expr
	retry *retrySpec
	meta  *meta
}

// flow is what a step tells the pipeline to do next.
type flow uint8

const (
	flowNext    flow = iota
	flowRespond      // c.Response is the answer; stop
	flowForward      // forward now with c.Upstream, then Resume
	flowCall         // make c.calls.call, then Resume (the step runs again)
	flowAwait        // wait for c.await (a lease), then Resume (the step runs again)
)

// stepper is one compiled policy. run must not retain c.
type stepper interface {
	run(c *Context) (flow, error)
}

// builder compiles the policies of one document (and fragments it includes).
type builder struct {
	cp         *Compiler
	doc        *Document
	file       string
	lines      []int
	sec        Section
	anySection bool
	target     target
	prog       []instr
	errs       *ErrorList
	ordinals   map[string]int
	fragStack  []string
	reads      bodyNeeds // bodies the document's policies read (body.go)
}

func (cp *Compiler) newBuilder(doc *Document, errs *ErrorList) *builder {
	return &builder{cp: cp, doc: doc, file: doc.File, lines: doc.lines, errs: errs, ordinals: map[string]int{}}
}

func (b *builder) errorf(n *Node, kind error, format string, args ...any) {
	b.errorAt(n, n.Pos, kind, format, args...)
}

func (b *builder) errorAt(n *Node, pos Pos, kind error, format string, args ...any) {
	*b.errs = append(*b.errs, &Error{File: b.file, Pos: pos, Element: n.Name, Msg: fmt.Sprintf(format, args...), Kind: kind})
}

func (b *builder) emit(in instr) int {
	b.prog = append(b.prog, in)
	return len(b.prog) - 1
}

func (b *builder) meta(n *Node) *meta {
	key := b.file + "|" + b.sec.String() + "|" + n.Name
	b.ordinals[key]++
	m := &meta{name: n.Name, file: b.file, pos: n.Pos, id: key + "#" + strconv.Itoa(b.ordinals[key]), path: b.pathOf(n)}
	if a, ok := n.Attr("id"); ok {
		m.policyID = a.Value
	}
	return m
}

// pathOf is n's place below its section (or fragment): each element on the
// way with its 1-based position among the siblings of the same name,
// "/"-separated, as APIM's context.LastError.Path ("choose[1]/when[2]").
func (b *builder) pathOf(n *Node) string {
	steps := pathTo(b.doc.Root, n, nil)
	if steps == nil {
		return ""
	}
	if b.doc.Root.Name == "policies" && len(steps) > 0 {
		steps = steps[1:] // the section is LastError.Section
	}
	return strings.Join(steps, "/")
}

// pathTo returns the steps from root down to n, or nil when n is not below root.
func pathTo(root, n *Node, steps []string) []string {
	seen := map[string]int{}
	for _, c := range root.Children {
		seen[c.Name]++
		step := c.Name + "[" + strconv.Itoa(seen[c.Name]) + "]"
		if c == n {
			return append(steps, step)
		}
		if out := pathTo(c, n, append(steps, step)); out != nil {
			return out
		}
	}
	return nil
}

// policy compiles one policy element in the current section.
func (b *builder) policy(n *Node) {
	if n.Name == "base" {
		b.errorf(n, ErrInvalid, "<base/> is allowed only directly inside a section")
		return
	}
	r, ok := registry[n.Name]
	if !ok {
		b.unsupportedPolicy(n)
		return
	}
	if !b.anySection && r.sections&(1<<b.sec) == 0 {
		b.errorf(n, ErrInvalid, "policy <%s> is not allowed in the %s section", n.Name, b.sec)
		return
	}
	// Every APIM policy may carry an id (context.LastError.PolicyId).
	b.checkAttrs(n, append(r.attrs[:len(r.attrs):len(r.attrs)], "id")...)
	r.compile(b, n)
}

func (b *builder) policies(nodes []*Node) {
	for _, n := range nodes {
		b.policy(n)
	}
}

func (b *builder) checkAttrs(n *Node, allowed ...string) {
	for _, a := range n.Attrs {
		found := false
		for _, ok := range allowed {
			if a.Name == ok {
				found = true
			}
		}
		if !found {
			b.errorAt(n, a.Pos, ErrUnsupported, "attribute %q is not supported", a.Name)
		}
	}
}

// checkRootAttrs accepts only namespace declarations on a root element.
func (b *builder) checkRootAttrs(n *Node) {
	for _, a := range n.Attrs {
		if a.Name != "xmlns" && !strings.HasPrefix(a.Name, "xmlns:") {
			b.errorAt(n, a.Pos, ErrUnsupported, "attribute %q is not supported", a.Name)
		}
	}
}

func (b *builder) noText(n *Node) {
	if strings.TrimSpace(n.Text) != "" {
		b.errorAt(n, n.TextPos, ErrInvalid, "unexpected text %q", clip(n.Text))
	}
}

func (b *builder) noChildren(n *Node) {
	for _, c := range n.Children {
		b.errorf(c, ErrInvalid, "<%s> may not contain <%s>", n.Name, c.Name)
	}
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// subst replaces {{name}} named values in s.
func (b *builder) subst(n *Node, pos Pos, s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var out strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			break
		}
		name := s[i+2 : i+2+j]
		if !isNamedValueName(name) {
			out.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		out.WriteString(s[:i])
		nv, ok := b.cp.opts.NamedValues[name]
		switch {
		case ok:
			out.WriteString(nv.Value)
		case b.cp.opts.Offline:
			out.WriteString("1") // a placeholder valid as a number and as text
		default:
			b.errorAt(n, advance(pos, s[:i]), ErrNamedValue, "named value {{%s}} is not defined", name)
		}
		s = s[i+2+j+2:]
	}
	out.WriteString(s)
	return out.String()
}

func isNamedValueName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// advance moves pos over the text s.
func advance(pos Pos, s string) Pos {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			pos.Line++
			pos.Col = 1
		} else {
			pos.Col++
		}
	}
	return pos
}

// prop is an attribute or element value: a literal or a compiled expression.
type prop struct {
	set bool
	bad bool // already reported: suppress follow-on errors
	lit Value
	e   *expr
}

func (p *prop) value(c *Context) (Value, error) {
	if p.e == nil {
		return p.lit, nil
	}
	c.budget = c.pipe.budget
	return p.e.eval(c)
}

func (p *prop) str(c *Context) (string, error) {
	v, err := p.value(c)
	if err != nil {
		return "", err
	}
	if v.k == kString {
		return v.s, nil
	}
	return v.String(), nil
}

func (p *prop) boolean(c *Context) (bool, error) {
	v, err := p.value(c)
	if err != nil {
		return false, err
	}
	switch v.k {
	case kBool:
		return v.b, nil
	case kString:
		switch strings.ToLower(strings.TrimSpace(v.s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, evalErr("expected a boolean, got %s %q", v.k, v.String())
}

func (p *prop) integer(c *Context) (int64, error) {
	v, err := p.value(c)
	if err != nil {
		return 0, err
	}
	switch v.k {
	case kInt:
		return v.i, nil
	case kString:
		if n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, evalErr("expected an integer, got %s %q", v.k, v.String())
}

// compileValue turns raw attribute or text content into a prop: named values
// substituted, then a whole-value @( … ) or @{ … } compiled as an expression.
func (b *builder) compileValue(n *Node, pos Pos, raw string) prop {
	s := b.subst(n, pos, raw)
	t := strings.TrimSpace(s)
	lead := strings.Index(s, t)
	if len(t) >= 3 && t[0] == '@' && (t[1] == '(' && t[len(t)-1] == ')' || t[1] == '{' && t[len(t)-1] == '}') {
		// Make sure the first bracket closes at the end: "@(a) + @(b)" is text.
		if end, err := scanCode([]byte(t), 2, t[1]); err == nil && end == len(t) {
			b.noteBodyReads(t)
			e, ee := b.cp.expression(t[2:len(t)-1], t[1] == '{')
			if ee != nil {
				kind := ErrSyntax
				if ee.unsupported {
					kind = ErrUnsupported
				}
				at := advance(pos, s[:lead+2]+t[2:2+ee.off])
				b.errorAt(n, at, kind, "expression: %s", b.cp.redact(ee.msg))
				return prop{set: true, bad: true}
			}
			return prop{set: true, e: e}
		}
	}
	return prop{set: true, lit: literalValue(s)}
}

// attrProp compiles attribute name of n; required reports its absence.
func (b *builder) attrProp(n *Node, name string, required bool) prop {
	a, ok := n.Attr(name)
	if !ok {
		if required {
			b.errorf(n, ErrInvalid, "attribute %q is required", name)
		}
		return prop{}
	}
	return b.compileValue(n, a.ValuePos, a.Value)
}

// textProp compiles the text content of n.
func (b *builder) textProp(n *Node) prop {
	return b.compileValue(n, n.TextPos, n.Text)
}

// attrString returns a literal attribute (named values substituted); an
// expression there is an error.
func (b *builder) attrString(n *Node, name string, required bool, def string) string {
	a, ok := n.Attr(name)
	if !ok {
		if required {
			b.errorf(n, ErrInvalid, "attribute %q is required", name)
		}
		return def
	}
	s := strings.TrimSpace(b.subst(n, a.ValuePos, a.Value))
	if strings.HasPrefix(s, "@(") || strings.HasPrefix(s, "@{") {
		b.errorAt(n, a.ValuePos, ErrUnsupported, "attribute %q does not accept an expression here", name)
		return def
	}
	return s
}

func (b *builder) attrInt(n *Node, name string, required bool, def, min, max int64) int64 {
	s := b.attrString(n, name, required, "")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		a, _ := n.Attr(name)
		b.errorAt(n, a.ValuePos, ErrInvalid, "attribute %q: %q is not an integer in [%d, %d]", name, s, min, max)
		return def
	}
	return v
}

func (b *builder) attrBool(n *Node, name string, def bool) bool {
	s := b.attrString(n, name, false, "")
	switch strings.ToLower(s) {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	}
	a, _ := n.Attr(name)
	b.errorAt(n, a.ValuePos, ErrInvalid, "attribute %q: %q is not true or false", name, s)
	return def
}

func (b *builder) attrEnum(n *Node, name, def string, values ...string) string {
	s := b.attrString(n, name, false, def)
	for _, v := range values {
		if s == v {
			return s
		}
	}
	a, _ := n.Attr(name)
	b.errorAt(n, a.ValuePos, ErrInvalid, "attribute %q: %q is not one of %s", name, s, strings.Join(values, ", "))
	return def
}

func (b *builder) seconds(n *Node, name string, required bool, def int64) time.Duration {
	return time.Duration(b.attrInt(n, name, required, def, 0, 1<<31)) * time.Second
}

// onlyChildren reports children other than the allowed names.
func (b *builder) onlyChildren(n *Node, allowed ...string) {
	for _, c := range n.Children {
		ok := false
		for _, a := range allowed {
			if c.Name == a {
				ok = true
			}
		}
		if !ok {
			b.errorf(c, ErrUnsupported, "<%s> is not allowed inside <%s> (expected %s)", c.Name, n.Name, strings.Join(allowed, ", "))
		}
	}
}
