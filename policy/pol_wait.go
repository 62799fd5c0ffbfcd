package policy

// wait runs its children and waits for them (for="all") or the first of them
// (for="any"). The children run one after the other: a send-request inside
// completes (Outcome Call) before the next child starts, so for="any" also
// waits for all of them and applies all their effects — slower than APIM,
// never a lost response; anything inside that needs time (a retry delay, a
// forward) suspends the pipeline with Wait/Forward/Call as usual.
func init() {
	register("wait", inAll, []string{"for"}, compileWait)
}

func compileWait(b *builder, n *Node) {
	b.noText(n)
	b.attrEnum(n, "for", "all", "all", "any")
	b.meta(n)
	b.policies(n.Children)
}
